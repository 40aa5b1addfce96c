"""Where the development data beside the repository lies (``../shared/data``), for tests that need it."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ``../shared/data`` beside the repository; skips the test when it is absent (fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared folder beside the repository), which is absent")
    return path
