"""``h3r train``: run a training experiment from a YAML config (see ``h3r.engine.config`` and ``configs/``)."""

from pathlib import Path

import click
import yaml
from rich.console import Console

from h3r.engine.config import ConfigError, load_config


@click.command()
@click.argument("config_path", metavar="CONFIG.yaml|RUN_DIR", type=click.Path(path_type=Path))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--resume", is_flag=True,
              help="Continue the run in output_dir from its last.ckpt (previous.ckpt if that is unreadable).")
@click.option("--force", is_flag=True,
              help="Start afresh in an existing output_dir, deleting its checkpoints and logs.")
@click.option("--print-config", is_flag=True, help="Print the resolved config as YAML and exit.")
def train(config_path: Path, overrides: tuple[str, ...], resume: bool, force: bool, print_config: bool) -> None:
    """Train a landmark model as CONFIG.yaml says, with dotted KEY=VALUE overrides.

    \b
    Examples:
      h3r train configs/300w_subset_mobilenetv2_128.yaml
      h3r train configs/wflw_mobilenetv2_256.yaml data.train=wflw:/data/WFLW:train optim.lr=5e-4
      h3r train configs/300w_subset_mobilenetv2_128.yaml --resume
      h3r train runs/moved_run --resume
      torchrun --nproc_per_node=2 $(which h3r) train CONFIG.yaml

    The run folder (output_dir) gets last.ckpt, previous.ckpt (the epoch before) and best.ckpt (best
    validation NME; pose: PCK, PCKh or AP), config.yaml, metrics.csv and TensorBoard events. A killed run
    continues with --resume, losing only the interrupted epoch. A run folder given as RUN_DIR is its own
    config.yaml with output_dir=RUN_DIR: a moved or copied run resumes where it lies.
    """
    if config_path.is_dir():
        config_path, overrides = config_path / "config.yaml", (f"output_dir={config_path}", *overrides)
    try:
        config = load_config(config_path, list(overrides))
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if print_config:
        click.echo(yaml.safe_dump(config.to_dict(), sort_keys=False), nl=False)
        return
    # imported here so that --help and --print-config do not load Lightning
    from h3r.engine.train import RunError
    from h3r.engine.train import train as run

    try:
        run(config, resume=resume, force=force, console=Console())
    except (RunError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
