"""Options and checks that several commands share: protecting outputs (``--force``), reading images as displayed."""

from pathlib import Path

import click

from h3r.utils.io import OutputError, check_output

force_option = click.option(
    "--force", is_flag=True, help="Write outputs even over input files or existing files of another kind."
)
exif_option = click.option(
    "--exif-transpose/--no-exif-transpose", default=True, show_default=True,
    help="Read images as they are displayed, their EXIF orientation applied; --no-exif-transpose: as stored.",
)  # fmt: skip


def check_outputs(outputs: dict[str, tuple[Path | None, str]], inputs: list[Path], force: bool) -> None:
    """``h3r.utils.io.check_output`` for each option's ``(path, kind)`` given (None: not asked for).

    Raises:
        click.BadParameter: naming the option and the problem, e.g. that the file is one of ``inputs``.
    """
    for option, (path, kind) in outputs.items():
        try:
            if path is not None:
                check_output(path, kind, inputs=inputs, force=force)
        except OutputError as error:
            raise click.BadParameter(str(error), param_hint=option) from None
