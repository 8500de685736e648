"""The columnar ingest: raw bytes in, normalized frame out (see ``analyzers.ingest``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass
class IngestResult:
    """What reading some sources produced.

    ``frame`` has the columns ``schema.FRAME_COLUMNS`` (dtypes in ``analyzers.frame``);
    ``unparsed`` has ``frame.UNPARSED_COLUMNS``. ``lines_parsed + lines_unparsed ==
    lines_read`` always holds.
    """

    frame: pd.DataFrame
    unparsed: pd.DataFrame
    lines_read: int
    lines_parsed: int

    @property
    def lines_unparsed(self) -> int:
        return self.lines_read - self.lines_parsed


def read_records(chunks: Iterable[bytes | str], source: str = "stdin") -> IngestResult:
    """Read one source given as chunks of bytes (or text) in any supported format."""
    raise NotImplementedError


def read_sources(sources: Iterable[tuple[str, Iterable[bytes | str]]]) -> IngestResult:
    """Read several ``(source_name, chunks)`` pairs (what ``analyzers.sources`` yield)."""
    raise NotImplementedError


def read_entries(
    entries: Iterable[Mapping[str, Any]], source: str = "cloud-logging"
) -> IngestResult:
    """Read Cloud Logging ``LogEntry`` dicts (the API's JSON representation)."""
    raise NotImplementedError
