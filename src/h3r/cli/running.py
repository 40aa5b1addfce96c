"""How ``h3r predict``'s runs end and start: SIGTERM ends a run as Ctrl-C does, a broken model stops it
naming the model, and the network is warmed up before anything is timed."""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import click
import numpy as np

from h3r.inference.detector import LandmarkDetector, ModelOutputError

__all__ = ["exit_on_sigterm", "naming_a_broken_model", "warm_up"]


@contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, job schedulers) ends the run as Ctrl-C does: a ``SystemExit`` of status
    143 (128 + 15), on the way out of which the results are written."""

    def stop(signal_number, frame):
        raise SystemExit(128 + signal_number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def naming_a_broken_model(model: str) -> Iterator[None]:
    """A ``ModelOutputError`` (landmarks that are not finite) becomes an error of ``--model``, which stops the run."""
    try:
        yield
    except ModelOutputError as error:
        raise click.ClickException(f"--model {model}: {error}") from None


def warm_up(detector: LandmarkDetector) -> None:
    """One call on a blank crop-sized image: the first call of a network pays one-off costs (memory, kernel
    choice; about 2 s on a CPU) that do not belong in the time per face."""
    height, width = detector.size
    detector.predict(np.zeros((height, width, 3), np.uint8), [[0, 0, width - 1, height - 1]])
