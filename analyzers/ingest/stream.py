"""Incremental parsing for ``rhesis-logs parse --follow``: records out as lines come in.

    parser = StreamParser(source="kubectl")
    for line in stream:                       # bytes or str, with or without "\\n"
        for record in parser.feed(line):      # dicts keyed by schema.FRAME_COLUMNS
            print(record)
    for record in parser.flush():             # end of input, or the stream went quiet
        print(record)
    parser.unparsed                           # list of dicts (frame.UNPARSED_COLUMNS)

JSON lines are parsed in small groups (``JSON_BATCH`` lines or ``JSON_WAIT_S`` seconds). A
Celery text record is held back until the next record of the *same* pod/container starts
(its traceback lines may still come). ``flush()`` releases everything held; a follower
should call it when no line arrived for a second or so. Everything goes through the same
columnar pipeline as a whole file (``pipeline.read_buffer``), so ``parse`` and ``parse
--follow`` agree on every field; a text record costs ~20 ms that way, fine for a live tail,
not for a backlog (use ``read_records`` for that).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from analyzers.ingest import celery_text, kubectl, pipeline
from instrumentation import schema

#: JSON lines are parsed in groups: one DuckDB query per line would cost ~10 ms a line.
#: A group is parsed when it has this many lines, when its first line waited this long (checked
#: at the next line), or at ``flush()`` (which a follower calls when the input goes quiet).
JSON_BATCH = 512
JSON_WAIT_S = 0.2

_POD = re.compile(r"^\[pod/([^/\]\s]+)/([^\]\s]+)\] ?")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})(?: |$)")
_HEADER = re.compile(celery_text.HEADER_START)
# Lines that may continue the record held for their stream (a traceback, the banner's
# lines): the same kinds as kubectl.stitch's; any other text line starts a record of its own.
_CONTINUES = re.compile("|".join(f"(?:{p})" for p in (
    kubectl.CONTINUATION, kubectl.EXCEPTION_LINE, kubectl.BANNER_LINE)))


class StreamParser:
    """Feed lines one at a time; get back the records they complete."""

    def __init__(self, source: str = "stdin") -> None:
        self.source = source
        self.lines_read = 0
        self.lines_parsed = 0
        self.unparsed: list[dict[str, Any]] = []
        self._pending: dict[str, tuple[int, list[bytes]]] = {}  # stream -> (line_no, lines)
        self._entries: bool | None = None  # LogEntry JSON or log lines: the first one decides
        self._json: list[tuple[int, bytes]] = []  # JSON lines waiting to be parsed together
        self._json_since = 0.0
        self._physical = 0

    def feed(self, line: bytes | str) -> list[dict[str, Any]]:
        """Add one line; return the records that are now complete."""
        raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        raw = raw.rstrip(b"\r\n")
        self._physical += 1  # line numbers count blank lines, as reading a whole file does
        if not raw:
            return []
        self.lines_read += 1
        line_no = self._physical
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
        if is_text and not is_header and stream in self._pending and _CONTINUES.match(body):
            self._pending[stream][1].append(raw)  # a continuation line (traceback)
            return []
        done = self._complete(stream) if stream in self._pending else []
        if is_text:
            self._pending[stream] = (line_no, [raw])
            return done
        if not self._json:
            self._json_since = time.monotonic()
        self._json.append((line_no, raw))
        if len(self._json) >= JSON_BATCH or time.monotonic() - self._json_since >= JSON_WAIT_S:
            done += self._drain_json()
        return done

    def flush(self) -> list[dict[str, Any]]:
        """Return every record still held back (end of input, or the input went quiet)."""
        done = self._drain_json()
        for stream in list(self._pending):
            done += self._complete(stream)
        return done

    def _complete(self, stream: str) -> list[dict[str, Any]]:
        # JSON lines read before this record's end go out first: output stays near input order.
        line_no, lines = self._pending.pop(stream)
        return self._drain_json() + self._parse([line_no] * len(lines), lines, one_record=True)

    def _drain_json(self) -> list[dict[str, Any]]:
        if not self._json:
            return []
        numbers, lines = zip(*self._json, strict=True)
        self._json = []
        return self._parse(list(numbers), list(lines))

    def _parse(self, numbers: list[int], lines: list[bytes], one_record: bool = False
               ) -> list[dict[str, Any]]:
        """Parse lines together; give records and unparsed lines their own line numbers back."""
        parts = pipeline.read_buffer(b"\n".join(lines), self.source, first_line_no=1,
                                     entries=self._entries)
        records, unparsed = pipeline.assemble(parts)
        bad = unparsed.to_dicts()
        out = records.to_pylist()
        for row in (*bad, *out):  # position in this batch -> line number in the stream
            row[schema.LINE_NO] = numbers[0] if one_record else numbers[row[schema.LINE_NO] - 1]
        self.unparsed += bad
        self.lines_parsed += len(lines) - len(bad)
        return out


def iter_records(lines: Iterable[bytes | str], source: str = "stdin") -> Iterator[dict[str, Any]]:
    """Yield normalized records (dicts keyed by FRAME_COLUMNS) as lines arrive."""
    parser = StreamParser(source)
    for line in lines:
        yield from parser.feed(line)
    yield from parser.flush()

