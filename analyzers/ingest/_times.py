"""Parse the timestamps log lines carry, vectorized, into UTC ``Datetime("us", "UTC")``.

Accepted (tried in this order, later formats only for values the earlier ones missed):
RFC 3339 with ``Z`` or an offset and any fraction (ours, kubectl's 9-digit prefix, Cloud
Logging); the same without a zone (taken as UTC); Python's ``asctime`` ``2026-11-28
11:50:32,160`` (taken as UTC, as containers run in UTC); epoch seconds or milliseconds.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

UTC_US = pl.Datetime("us", "UTC")

_ZONED = "%Y-%m-%dT%H:%M:%S%.f%#z"
_CHUNK = 262_144
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S,%3f", "%Y-%m-%d %H:%M:%S%.f")


def parse_times(col: pl.Series) -> pl.Series:
    """Parse a string column; values no format understands become null (never raise)."""
    if col.dtype != pl.String:
        col = col.cast(pl.String)
    out = _duckdb_times(col)
    missing = out.is_null() & col.is_not_null()
    if not missing.any():
        return out
    for fmt in _NAIVE:
        naive = col.str.to_datetime(fmt, strict=False, time_unit="us")
        out = out.fill_null(naive.dt.replace_time_zone("UTC"))
        if not (out.is_null() & col.is_not_null()).any():
            return out
    n = pl.col("n")
    epoch = (
        pl.DataFrame({"n": col.cast(pl.Float64, strict=False)})
        .select(
            pl.when(n > 1e11).then(n * 1_000).otherwise(n * 1_000_000)
            .cast(pl.Int64, strict=False).cast(UTC_US)
        )
        .to_series()
    )
    return out.fill_null(epoch)


def _duckdb_times(col: pl.Series) -> pl.Series:
    """RFC 3339 / ISO 8601 through DuckDB's cast: five times Polars' ``to_datetime`` here."""
    from analyzers.ingest.json_lines import connection  # DuckDB set to UTC, one per thread

    con = connection()
    parts = []
    for start in range(0, len(col), _CHUNK):
        values = col.slice(start, _CHUNK).to_arrow().cast(pa.large_string())
        con.register("_times", pa.table({"v": values}))
        try:
            parts.append(con.sql("SELECT try_cast(v AS TIMESTAMPTZ) AS t FROM _times")
                         .to_arrow_table().column("t"))
        finally:
            con.unregister("_times")
    if not parts:
        return pl.Series(col.name, [], dtype=UTC_US)
    chunks = [c for p in parts for c in p.chunks]
    return pl.Series(col.name, pa.chunked_array(chunks, type=chunks[0].type if chunks else None)
                     ).cast(UTC_US)
