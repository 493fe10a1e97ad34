"""Small helpers shared by sr-d2's modules and tools."""
import argparse
import math
import os
from contextlib import contextmanager
from typing import Iterable, Iterator

__all__ = ["check_output", "is_setting", "positive_int", "written_then_renamed"]


def check_output(path: str, inputs: Iterable[str] = (), overwrite: bool = False) -> None:
    """
    Before a tool writes ``path``: FileExistsError naming it when it is one of ``inputs`` (the
    files the user gave; never written over, ``--overwrite`` or not), or when it exists and
    ``overwrite`` is not set.
    """
    if not os.path.exists(path):
        return
    for given in inputs:
        if given and os.path.exists(given) and os.path.samefile(given, path):
            raise FileExistsError(f"{path} is an input ({given}): writing it would destroy it; "
                                  f"give another output")
    if not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")


def is_setting(value, minimum: float = 0.0, above: bool = False) -> bool:
    """A number setting (not a bool) that is finite and ``>= minimum`` (``> minimum`` with ``above``):
    a NaN would pass ``value < minimum`` and switch its loss off unseen."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value > minimum if above else value >= minimum


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (a count, a size, a scale)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: at least 1")
    return value


@contextmanager
def written_then_renamed(path: str, suffix: str = "") -> Iterator[str]:
    """
    Yields a temporary file name beside ``path`` (ending in ``suffix``, for writers that choose the
    format by the name) to write to; renamed to ``path`` when the block ends, removed if it raises:
    ``path`` is never half written, and an earlier file there stays until the new one is whole.
    """
    tmp = f"{path}.tmp{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
