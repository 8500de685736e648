"""Incremental parsing for ``rhesis-logs parse --follow``: records out as lines come in.

    parser = StreamParser(source="kubectl")
    for line in stream:                       # bytes or str, with or without "\\n"
        for record in parser.feed(line):      # dicts keyed by schema.FRAME_COLUMNS
            print(record)
    for record in parser.flush():             # end of input, or the stream went quiet
        print(record)
    parser.unparsed                           # list of dicts (frame.UNPARSED_COLUMNS)

A JSON line is a record at once. A Celery text record is held back until the next record of
the *same* pod/container starts (its traceback lines may still come), or until ``flush()``;
a follower should call ``flush()`` when no line arrived for a second or so. Each completed
record goes through the same columnar pipeline as a whole file (``pipeline.read_buffer``), so
``parse`` and ``parse --follow`` agree on every field; the cost (about a millisecond a record)
is fine for a live tail, not for a backlog (use ``read_records`` for that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from analyzers.ingest import celery_text, pipeline

_POD = re.compile(r"^\[pod/([^/\]\s]+)/([^\]\s]+)\] ?")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})(?: |$)")
_HEADER = re.compile(celery_text.HEADER_START)


class StreamParser:
    """Feed lines one at a time; get back the records they complete."""

    def __init__(self, source: str = "stdin") -> None:
        self.source = source
        self.lines_read = 0
        self.lines_parsed = 0
        self.unparsed: list[dict[str, Any]] = []
        self._pending: dict[str, tuple[int, list[bytes]]] = {}  # stream -> (line_no, lines)
        self._entries: bool | None = None  # LogEntry JSON or log lines: the first one decides

    def feed(self, line: bytes | str) -> list[dict[str, Any]]:
        """Add one line; return the records that are now complete."""
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        raw = raw.rstrip(b"\r\n")
        if not raw:
            return []
        self.lines_read += 1
        line_no = self.lines_read
        text = raw.decode("utf-8", "replace")
        stream, body = "", text
        m = _POD.match(text)
        if m:
            stream, body = f"{m.group(1)}/{m.group(2)}", text[m.end():]
        m = _TS.match(body)
        if m:
            body = body[m.end():]
        body = body.rstrip()
        is_header = bool(_HEADER.match(body))
        if self._entries is None and body.startswith("{"):
            self._entries = pipeline.is_entry_line(raw)
        is_text = bool(body) and not body.startswith("{")
        if is_text and not is_header and stream in self._pending:
            self._pending[stream][1].append(raw)  # a continuation line (traceback)
            return []
        done = self._complete(stream)
        if is_text:
            self._pending[stream] = (line_no, [raw])
            return done
        return done + self._parse(line_no, [raw])

    def flush(self) -> list[dict[str, Any]]:
        """Return the records still waiting for continuation lines (end of input, or idle)."""
        done: list[dict[str, Any]] = []
        for stream in list(self._pending):
            done += self._complete(stream)
        return done

    def _complete(self, stream: str) -> list[dict[str, Any]]:
        pending = self._pending.pop(stream, None)
        return self._parse(*pending) if pending else []

    def _parse(self, line_no: int, lines: list[bytes]) -> list[dict[str, Any]]:
        parts = pipeline.read_buffer(b"\n".join(lines), self.source, first_line_no=line_no,
                                     entries=self._entries)
        records, unparsed = pipeline.assemble(parts)
        bad = unparsed.to_dicts()
        self.unparsed += bad
        # All lines but the unparsed ones were read into these records.
        self.lines_parsed += len(lines) - len(bad)
        return records.to_pylist()


def iter_records(lines: Iterable[bytes | str], source: str = "stdin") -> Iterator[dict[str, Any]]:
    """Yield normalized records (dicts keyed by FRAME_COLUMNS) as lines arrive."""
    parser = StreamParser(source)
    for line in lines:
        yield from parser.feed(line)
    yield from parser.flush()

