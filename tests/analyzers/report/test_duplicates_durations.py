"""Duplicate executions, lost workers, run-time percentiles, queue wait, time buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzers.report import columns as cols
from analyzers.report import duplicate_executions, lost_workers, over_time, slow_tasks
from instrumentation import schema
from tests.analyzers.report.frames import T0, at, ev, make_frame, run


class TestDuplicates:
    """Ids executed more often than their retries explain, and why."""

    def test_visibility_timeout_redelivery(self) -> None:
        rows = [
            *run("dup", "tasks.long", 0, **{schema.WORKER: "w1", schema.ORGANIZATION_ID: "org-1"}),
            *run("dup", "tasks.long", 3600.5, **{schema.WORKER: "w2"}),
            *run("once", "tasks.long", 10),
        ]
        out = duplicate_executions(make_frame(rows))
        assert list(out[schema.TASK_ID]) == ["dup"]
        row = out.iloc[0]
        assert (row[cols.RECEIVED], row[cols.SUCCEEDED], row[cols.RETRIED],
                row[cols.WORKERS]) == (2, 2, 0, 2)
        assert row[cols.GAP_S] == pytest.approx(3600.5)
        assert row[cols.LIKELY_CAUSE] == "visibility_timeout"
        assert row[schema.ORGANIZATION_ID] == "org-1"

    def test_retries_are_not_duplicates(self) -> None:
        rows = [*run("r", "tasks.x", 0, outcome=schema.Event.TASK_RETRIED),
                *run("r", "tasks.x", 5, outcome=schema.Event.TASK_RETRIED, **{schema.RETRIES: 1}),
                *run("r", "tasks.x", 10, **{schema.RETRIES: 2})]
        assert duplicate_executions(make_frame(rows)).empty

    @pytest.mark.parametrize(
        ("extra_rows", "cause"),
        [
            (
                [ev(schema.Event.WORKER_LOST, 2, **{schema.TASK_ID: "d", schema.WORKER: "w1"})],
                "worker_lost",
            ),
            ([], "unknown"),
        ],
    )
    def test_cause(self, extra_rows, cause) -> None:
        rows = [*run("d", "tasks.x", 0), *run("d", "tasks.x", 30), *extra_rows]
        assert duplicate_executions(make_frame(rows)).iloc[0][cols.LIKELY_CAUSE] == cause

    def test_redelivered_flag(self) -> None:
        rows = [ev(schema.Event.TASK_RECEIVED, 0, **{schema.TASK_ID: "d", schema.TASK_NAME: "t"}),
                ev(schema.Event.TASK_RECEIVED, 30, **{schema.TASK_ID: "d", schema.TASK_NAME: "t",
                                                 schema.REDELIVERED: True})]
        row = duplicate_executions(make_frame(rows)).iloc[0]
        assert bool(row[schema.REDELIVERED])
        assert row[cols.LIKELY_CAUSE] == "redelivered"


class TestLostWorkers:
    """Lost workers, time limits and broker disconnects, one count per task."""

    def test_kinds_and_dedup(self) -> None:
        lost = {schema.TASK_ID: "t1", schema.TASK_NAME: "tasks.heavy", schema.WORKER: "w1"}
        rows = [
            ev(schema.Event.WORKER_LOST, 1, **lost, **{schema.REASON: "signal 9 (SIGKILL)"}),
            # the same loss as the task's failure: counted once
            ev(
                schema.Event.TASK_FAILED,
                1,
                **lost,
                **{schema.EXCEPTION_TYPE: "billiard.exceptions.WorkerLostError"},
            ),
            ev(
                schema.Event.TASK_FAILED,
                2,
                **{
                    schema.TASK_ID: "t2",
                    schema.TASK_NAME: "tasks.slow",
                    schema.WORKER: "w2",
                    schema.EXCEPTION_TYPE: "celery.exceptions.TimeLimitExceeded",
                },
            ),
            ev(schema.Event.BROKER_CONNECTION_LOST, 3, **{schema.POD: "worker-0"}),
            ev(schema.Event.BROKER_CONNECTION_LOST, 4, **{schema.POD: "worker-0"}),
            ev(
                schema.Event.TASK_FAILED,
                5,
                **{schema.TASK_ID: "t3", schema.EXCEPTION_TYPE: "ValueError"},
            ),
        ]
        out = lost_workers(make_frame(rows)).set_index([cols.KIND, schema.WORKER])
        assert out.loc[("worker_lost", "w1"), cols.COUNT] == 1
        assert out.loc[("worker_lost", "w1"), cols.EXAMPLE_MESSAGE] == "signal 9 (SIGKILL)"
        assert out.loc[("time_limit", "w2"), cols.COUNT] == 1
        assert out.loc[("broker_connection_lost", "worker-0"), cols.COUNT] == 2
        assert len(out) == 3  # the ValueError is an ordinary failure


class TestSlowTasks:
    """Percentiles of run time per task and queue wait."""

    def test_percentiles_match_numpy(self) -> None:
        durations = [10.0, 20.0, 30.0, 40.0, 1000.0]
        rows = [r for i, d in enumerate(durations)
                for r in run(f"a{i}", "tasks.a", i, duration_ms=d)]
        rows += run("b0", "tasks.b", 0, duration_ms=5.0)
        out = slow_tasks(make_frame(rows)).set_index(schema.TASK_NAME)
        a = out.loc["tasks.a"]
        assert a[cols.COUNT] == 5
        for col, q in ((cols.P50_MS, 50), (cols.P95_MS, 95), (cols.P99_MS, 99)):
            assert a[col] == pytest.approx(np.percentile(durations, q))
        assert a[cols.MAX_MS] == 1000.0
        assert list(out.index) == ["tasks.a", "tasks.b"]  # slowest p95 first

    def test_queue_wait_from_field_or_from_received_to_started(self) -> None:
        rows = [*run("f", "tasks.field", 0, wait_ms=250.0),
                # no queue_wait_ms: the received->started gap (10 ms in run()) is used
                *run("g", "tasks.gap", 0, wait_ms=None)]
        out = slow_tasks(make_frame(rows)).set_index(schema.TASK_NAME)
        assert out.loc["tasks.field", cols.WAIT_P50_MS] == 250.0
        assert out.loc["tasks.gap", cols.WAIT_P50_MS] == pytest.approx(10.0)
        assert out.loc["tasks.gap", cols.WAITS] == 1

    def test_no_durations(self) -> None:
        assert slow_tasks(make_frame([ev(schema.Event.LOG, 0)])).empty


class TestOverTime:
    """Counts per bucket, empty buckets kept."""

    def test_buckets(self) -> None:
        rows = [*run("a", "t", 0), ev(schema.Event.TASK_FAILED, 30, **{schema.TASK_ID: "b"}),
                ev(schema.Event.TASK_RETRIED, 250, **{schema.TASK_ID: "c"})]
        out = over_time(make_frame(rows), bucket=pd.Timedelta("1min"))
        assert list(out[cols.BUCKET]) == list(pd.date_range(T0, at(240), freq="1min"))
        assert list(out[cols.FAILED]) == [1, 0, 0, 0, 0]
        assert list(out[cols.RETRIED]) == [0, 0, 0, 0, 1]
        assert out[cols.RECEIVED].sum() == 1

    @pytest.mark.parametrize(("span_s", "size"), [(20, "1s"), (600, "10s"), (3000, "1min"),
                                                  (7200, "5min"), (86400, "1h")])
    def test_bucket_size_follows_the_span(self, span_s, size) -> None:
        rows = [ev(schema.Event.TASK_RECEIVED, 0), ev(schema.Event.TASK_RECEIVED, span_s)]
        out = over_time(make_frame(rows))
        assert out[cols.BUCKET].iloc[1] - out[cols.BUCKET].iloc[0] == pd.Timedelta(size)
        assert len(out) <= 61


def test_time_limit_line_names_the_task_in_its_text() -> None:
    """Celery's "Hard time limit ... for name[id]" line and the task's failure are one loss."""
    tid = "d49f79d1-e76f-4577-8aea-c23b575174c7"
    rows = [
        ev(
            schema.Event.TASK_FAILED,
            1,
            **{
                schema.TASK_ID: tid,
                schema.TASK_NAME: "tasks.sleepy",
                schema.WORKER: "w1",
                schema.EXCEPTION_TYPE: "billiard.exceptions.TimeLimitExceeded",
            },
        ),
        ev(
            schema.Event.TIME_LIMIT_EXCEEDED,
            1,
            **{
                schema.WORKER: "w1",
                schema.MESSAGE: f"Hard time limit (1s) exceeded for tasks.sleepy[{tid}]",
            },
        ),
    ]
    (row,) = lost_workers(make_frame(rows)).to_dict("records")
    assert (row[cols.KIND], row[cols.COUNT], row[cols.EXAMPLE_TASK_ID]) == ("time_limit", 1, tid)


def test_queue_wait_without_any_received_line_is_unknown() -> None:
    """A started line with no queue_wait_ms and no received line anywhere (a log that begins
    mid-task): the wait is unknown, not an error (hypothesis found the empty lookup)."""
    df = make_frame([
        ev(schema.Event.TASK_STARTED, 1, **{schema.TASK_ID: "a", schema.TASK_NAME: "tasks.add"}),
        ev(schema.Event.TASK_SUCCEEDED, 2, **{schema.TASK_ID: "a", schema.TASK_NAME: "tasks.add",
                                          schema.DURATION_MS: 5.0}),
    ])
    out = slow_tasks(df)
    assert out[cols.COUNT].tolist() == [1]
    assert out[cols.WAITS].tolist() == [0]
    assert pd.isna(out[cols.WAIT_P50_MS].iloc[0])
