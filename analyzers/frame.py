"""The normalized frame every reader produces and every report section consumes.

One row per log record, whatever the format it came from, with exactly the columns
``instrumentation.schema.FRAME_COLUMNS`` in that order::

    from analyzers import frame
    from instrumentation import schema

    df = frame.empty_frame()                 # the right columns and dtypes, no rows
    df[schema.TIME].dt.tz                    # UTC
    frame.check_frame(df)                    # raises ValueError naming a wrong column

Dtypes (pandas 3): ``time`` is ``datetime64[us, UTC]``; text columns are pandas' Arrow-backed
``str``; integers are nullable ``Int64``; numbers are ``float64`` (NaN when absent); flags are
nullable ``boolean``. Readers build an Arrow table with :data:`ARROW_SCHEMA` and call
:func:`from_arrow`, which is (almost) zero-copy.

The unparsed lines are a second, small frame with :data:`UNPARSED_COLUMNS`.
"""

from __future__ import annotations

import functools

import pandas as pd
import pyarrow as pa

from instrumentation import schema

#: Longest ``raw`` text kept for one line or record; the rest is cut (with a marker) so a 1 MB
#: line of junk does not make the report unreadable or the frame huge.
RAW_LIMIT = 2000

_SCHEMA_TYPES = {f.name: f.type for f in schema.FIELDS}

_ARROW_OF_SCHEMA_TYPE = {
    "string": pa.large_string(),  # pandas' Arrow-backed str dtype wraps large_string for free
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}

_PANDAS_OF_SCHEMA_TYPE = {
    "string": pd.StringDtype("pyarrow", na_value=float("nan")),
    "integer": pd.Int64Dtype(),
    "number": "float64",
    "boolean": pd.BooleanDtype(),
}

_ANALYZER_TYPES = {
    schema.SOURCE: "string",
    schema.LINE_NO: "integer",
    schema.POD: "string",
    schema.CONTAINER: "string",
    schema.NAMESPACE: "string",
    schema.FORMAT: "string",
    schema.RAW: "string",
}


def _schema_type(column: str) -> str:
    return _ANALYZER_TYPES.get(column) or _SCHEMA_TYPES[column]


#: Arrow type of each frame column (``time`` is a UTC timestamp, not the schema's string).
ARROW_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(
            c,
            pa.timestamp("us", tz="UTC")
            if c == schema.TIME
            else _ARROW_OF_SCHEMA_TYPE[_schema_type(c)],
        )
        for c in schema.FRAME_COLUMNS
    ]
)

#: pandas dtype of each frame column.
PANDAS_DTYPES: dict[str, object] = {
    c: ("datetime64[us, UTC]" if c == schema.TIME else _PANDAS_OF_SCHEMA_TYPE[_schema_type(c)])
    for c in schema.FRAME_COLUMNS
}

#: Columns of :attr:`analyzers.ingest.IngestResult.unparsed`.
UNPARSED_COLUMNS: tuple[str, ...] = (
    schema.SOURCE,
    schema.LINE_NO,
    schema.POD,
    schema.CONTAINER,
    schema.REASON,
    schema.RAW,
)

UNPARSED_ARROW_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field(c, pa.int64() if c == schema.LINE_NO else pa.large_string())
        for c in UNPARSED_COLUMNS
    ]
)

#: Values of the ``format`` column: which reader understood the record.
FORMAT_JSON = "json"  # one JSON object per line (ours or another JSON logger's)
FORMAT_CELERY_TEXT = "celery_text"  # Celery's default "[date: LEVEL/Process] message" lines
FORMAT_TEXT = "text"  # another text format (any worker_log_format), Celery's banner
FORMAT_CLOUD_LOGGING = "cloud_logging"  # a LogEntry with jsonPayload (gcloud/export/API)

FORMATS = (FORMAT_JSON, FORMAT_CELERY_TEXT, FORMAT_TEXT, FORMAT_CLOUD_LOGGING)


def _types_mapper(arrow_type: pa.DataType) -> object | None:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow", na_value=float("nan"))
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None  # floats and timestamps: numpy dtypes


@functools.lru_cache(maxsize=64)
def null_array(n: int, arrow_type: pa.DataType) -> pa.Array:
    """An all-null array, shared: most of the frame's 54 columns are empty for most records,
    and 8 bytes of offsets per row per empty text column would add up to hundreds of MB."""
    return pa.nulls(n, arrow_type)


def from_arrow(table: pa.Table, columns: tuple[str, ...] = schema.FRAME_COLUMNS) -> pd.DataFrame:
    """Turn an Arrow table into a frame with exactly ``columns`` (missing ones all-null)."""
    n = table.num_rows
    arrays = []
    arrow_schema = ARROW_SCHEMA if columns == schema.FRAME_COLUMNS else UNPARSED_ARROW_SCHEMA
    for name in columns:
        target = arrow_schema.field(name).type
        if name in table.column_names:
            col = table.column(name)
            if col.type != target:
                col = col.cast(target)
        else:
            col = null_array(n, target)
        arrays.append(col)
    fixed = pa.table(arrays, schema=arrow_schema)
    df = fixed.to_pandas(types_mapper=_types_mapper, self_destruct=True, split_blocks=True)
    if schema.TIME in df.columns:
        df[schema.TIME] = df[schema.TIME].astype("datetime64[us, UTC]")
    return df


def empty_frame() -> pd.DataFrame:
    """A frame with the normalized columns and dtypes and no rows."""
    return from_arrow(ARROW_SCHEMA.empty_table())


def empty_unparsed() -> pd.DataFrame:
    """An unparsed-lines frame with no rows."""
    return from_arrow(UNPARSED_ARROW_SCHEMA.empty_table(), UNPARSED_COLUMNS)


def check_frame(df: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless ``df`` has exactly the normalized columns and dtypes."""
    if tuple(df.columns) != schema.FRAME_COLUMNS:
        missing = [c for c in schema.FRAME_COLUMNS if c not in df.columns]
        extra = [c for c in df.columns if c not in schema.FRAME_COLUMNS]
        raise ValueError(f"frame columns differ: missing {missing}, unexpected {extra}")
    for name, expected in PANDAS_DTYPES.items():
        if df[name].dtype != pd.api.types.pandas_dtype(expected):
            raise ValueError(f"column {name!r} has dtype {df[name].dtype}, expected {expected}")


def truncate_raw(text: str, limit: int = RAW_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"
