"""How the analyzer writes a time: RFC 3339 in UTC, one ``strftime`` format per precision.

    from analyzers.rfc3339 import RFC3339_MICROS
    pd.Timestamp(t).tz_convert("UTC").strftime(RFC3339_MICROS)   # 2026-11-28T10:00:00.123456Z

Reports, parsed records and Cloud Logging filters use microseconds (what the frame holds);
``kubectl --since-time`` takes whole seconds. (Readers parse times in ``ingest._times``.)
"""

from __future__ import annotations

#: ``2026-11-28T10:00:00.123456Z``: the frame's precision.
RFC3339_MICROS = "%Y-%m-%dT%H:%M:%S.%fZ"
#: ``2026-11-28T10:00:00Z``: for tools that take whole seconds (``kubectl --since-time``).
RFC3339_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
#: ``RFC3339_MICROS`` in Polars' ``strftime`` dialect (``%6f``: six fraction digits).
RFC3339_MICROS_POLARS = "%Y-%m-%dT%H:%M:%S.%6fZ"
