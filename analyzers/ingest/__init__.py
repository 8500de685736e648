"""Turn raw log bytes in any supported format into the normalized frame.

Formats are detected line by line, so one stream may mix them (kubectl output from a JSON
worker and a plain-Celery worker at once):

* JSON lines: ours (``instrumentation``), and other JSON loggers' (``level``/``levelname``,
  ``msg``, ``timestamp``/``asctime`` are mapped onto the schema's names);
* Celery's default text format ``[2026-11-28 11:50:32,160: INFO/MainProcess] Task ...``,
  with tracebacks stitched onto the record they belong to;
* ``kubectl logs --prefix --timestamps`` (either or both): the prefix gives the pod and
  container, and a continuation line is attached to the last record *of the same
  pod/container*, not to the previous line;
* Cloud Logging ``LogEntry`` objects: ``gcloud logging read --format=json`` (one JSON array)
  or NDJSON exports / the API (one entry per line), with ``jsonPayload`` or ``textPayload``.

Usage::

    from analyzers import ingest

    result = ingest.read_records([b"...bytes...", b"...more..."], source="worker.log")
    result.frame          # pandas DataFrame, columns = schema.FRAME_COLUMNS (analyzers.frame)
    result.unparsed       # pandas DataFrame, columns = frame.UNPARSED_COLUMNS
    assert result.lines_parsed + len(result.unparsed) == result.lines_read

    result = ingest.read_sources(files.open_sources(paths))   # several (name, chunks) at once

    for record in ingest.iter_records(sys.stdin.buffer, source="stdin"):   # parse --follow
        print(record)     # a dict with the FRAME_COLUMNS keys (None where absent)

What counts: ``lines_read`` is the number of non-blank input lines (blank lines carry
nothing and are skipped); for a gcloud JSON array, each entry counts as one line. A line is
*parsed* when it became a record or was attached to one (a traceback line); otherwise it is
in ``unparsed`` with its source, line number, pod/container and a reason (invalid UTF-8,
binary data, invalid JSON, ...). Nothing in the input makes this raise.

The work is columnar (see ``analyzers.ingest.pipeline``): lines are split and classified with
NumPy and Polars string operations, JSON is decoded by DuckDB in parallel, 16 MB at a time;
a million lines take 2-3 s on two cores. Only a chunk holding a malformed line is redone
more slowly. Docs: ``docs/ingest.md``.
"""

from __future__ import annotations

from analyzers.ingest.pipeline import (
    IngestResult,
    read_entries,
    read_records,
    read_sources,
)
from analyzers.ingest.stream import StreamParser, iter_records

__all__ = [
    "IngestResult",
    "StreamParser",
    "iter_records",
    "read_entries",
    "read_records",
    "read_sources",
]
