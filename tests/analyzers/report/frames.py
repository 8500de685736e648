"""Hand-built normalized frames for the report tests.

Rows are dicts keyed by schema constants; :func:`make_frame` turns them into a frame with
exactly the columns and dtypes the ingest produces (through ``analyzers.frame.from_arrow``),
so a report function sees here what it sees in production.

    rows = [*run("t1", "tasks.add", at=0), ev(s.Event.TASK_FAILED, 5, task_id="t2", ...)]
    frame = make_frame(rows)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa

from analyzers import frame as frame_mod
from instrumentation import schema

T0 = pd.Timestamp("2026-11-28T10:00:00Z")


def at(seconds: float) -> pd.Timestamp:
    """``T0`` plus ``seconds``."""
    return T0 + pd.Timedelta(seconds=seconds).round("us")  # the frame holds microseconds


def ev(event: str, seconds: float = 0.0, **fields: Any) -> dict[str, Any]:
    """One record: ``event`` at ``T0 + seconds`` with the given schema fields."""
    return {schema.EVENT: str(event), schema.TIME: at(seconds), **fields}


def run(
    task_id: str,
    name: str,
    seconds: float = 0.0,
    *,
    duration_ms: float = 100.0,
    wait_ms: float | None = 10.0,
    outcome: str = schema.Event.TASK_SUCCEEDED,
    **fields: Any,
) -> list[dict[str, Any]]:
    """received, started and a closing event of one execution of one task."""
    common = {schema.TASK_ID: task_id, schema.TASK_NAME: name, **fields}
    started = {**common}
    if wait_ms is not None:
        started[schema.QUEUE_WAIT_MS] = wait_ms
    return [
        ev(schema.Event.TASK_RECEIVED, seconds, **common),
        ev(schema.Event.TASK_STARTED, seconds + 0.01, **started),
        ev(
            outcome,
            seconds + 0.01 + duration_ms / 1000,
            **common,
            **{schema.DURATION_MS: duration_ms},
        ),
    ]


def make_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A normalized frame (FRAME_COLUMNS, ingest dtypes) holding ``rows``."""
    table = pa.Table.from_pylist(list(rows), schema=frame_mod.ARROW_SCHEMA)
    return frame_mod.from_arrow(table)
