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

The work is columnar. A file of JSON lines on disk is read whole by DuckDB's parallel
``read_json`` (``analyzers.ingest.json_file``; ``read_sources(..., columns=...)`` decodes only
the columns asked for). Anything else goes through ``analyzers.ingest.pipeline`` in 8 MB
batches: lines are split and classified with NumPy and Polars string operations, JSON bodies
are decoded by DuckDB; only a chunk holding a malformed line is redone more slowly. A million
lines take about 1 s (JSON file) to 1.7 s (kubectl output) on two cores. Docs:
``docs/ingest.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {"StreamParser": "stream", "iter_records": "stream"}


def __getattr__(name: str) -> Any:
    # Imported on first use: a module of this package that needs no frame (``json_scan``,
    # for ``analyzers.file_report``) then does not pay for Polars.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_HOME.get(name, 'pipeline')}"), name)
    globals()[name] = value
    return value
