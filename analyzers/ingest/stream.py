"""Incremental parsing for ``rhesis-logs parse --follow``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class StreamParser:
    """Feed lines one at a time; get back the records they complete."""

    def __init__(self, source: str = "stdin") -> None:
        self.source = source

    def feed(self, line: bytes | str) -> list[dict[str, Any]]:
        """Add one line; return the records that are now complete."""
        raise NotImplementedError

    def flush(self) -> list[dict[str, Any]]:
        """Return the records still waiting for continuation lines (end of input, or idle)."""
        raise NotImplementedError


def iter_records(lines: Iterable[bytes | str], source: str = "stdin") -> Iterator[dict[str, Any]]:
    """Yield normalized records (dicts keyed by FRAME_COLUMNS) as lines arrive."""
    parser = StreamParser(source)
    for line in lines:
        yield from parser.feed(line)
    yield from parser.flush()
