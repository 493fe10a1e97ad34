"""Small helpers shared by sr-d2's tools."""
import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["written_then_renamed"]


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
