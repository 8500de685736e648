"""Failures grouped by fingerprint; retries, retry storms and retry outcomes."""

from __future__ import annotations

import pandas as pd
import pytest

from analyzers.report import columns as cols
from analyzers.report import (
    failures,
    fingerprint,
    retries,
    retry_outcomes,
    retry_storms,
    task_totals,
)
from instrumentation import schema
from tests.analyzers.report.frames import at, ev, make_frame, run

FAILED = schema.Event.TASK_FAILED
RETRIED = schema.Event.TASK_RETRIED


def fail(task_id: str, seconds: float, name: str = "tasks.fetch", exc: str = "TimeoutError",
         msg: str = "timed out after 30s", org: str | None = "org-1", **extra) -> dict:
    return ev(
        FAILED,
        seconds,
        **{
            schema.TASK_ID: task_id,
            schema.TASK_NAME: name,
            schema.EXCEPTION_TYPE: exc,
            schema.EXCEPTION_MESSAGE: msg,
            schema.ORGANIZATION_ID: org,
            **extra,
        },
    )


def retry(task_id: str, seconds: float, retries_before: int = 0, name: str = "tasks.fetch",
          exc: str = "ConnectionError", org: str | None = "org-1") -> dict:
    return ev(
        RETRIED,
        seconds,
        **{
            schema.TASK_ID: task_id,
            schema.TASK_NAME: name,
            schema.EXCEPTION_TYPE: exc,
            schema.EXCEPTION_MESSAGE: "refused",
            schema.RETRIES: retries_before,
            schema.ORGANIZATION_ID: org,
        },
    )


class TestFingerprint:
    """The parts of a message that differ between occurrences are masked."""

    @pytest.mark.parametrize(
        ("message", "expected"),
        [("timed out after 30s", "timed out after <n>s"),
         ("timed out after 4.25s", "timed out after <n>s"),
         ("no row for 5e0c7f2a-1b3d-4c5e-8f90-a1b2c3d4e5f6", "no row for <id>"),
         ("bad pointer 0xDEADBEEF", "bad pointer <hex>"),
         ("object a3f9c2 missing", "object <hex> missing"),
         ("org 17 quota 250 exceeded", "org <n> quota <n> exceeded"),
         ("line one\n   line two", "line one line two"),
         ("plain words stay", "plain words stay"),
         (None, "")],
    )
    def test_masks(self, message: str | None, expected: str) -> None:
        assert fingerprint(pd.Series([message], dtype="str")).iloc[0] == expected

    def test_long_messages_are_cut(self) -> None:
        assert len(fingerprint(pd.Series(["x" * 5000])).iloc[0]) == 200


class TestFailures:
    """One row per task / exception / fingerprint with counts, tenants and times."""

    def test_grouping_counts_tenants_and_times(self) -> None:
        frame = make_frame([
            fail("a", 10, msg="timed out after 30s", org="org-1"),
            fail("b", 20, msg="timed out after 12s", org="org-2"),
            fail("c", 30, msg="timed out after 5s", org="org-2"),
            fail("d", 40, exc="KeyError", msg="'user 5'"),
            fail("e", 50, name="tasks.other"),
            *run("ok", "tasks.fetch", 60),
        ])
        out = failures(frame)
        assert list(out[cols.COUNT]) == [3, 1, 1]
        top = out.iloc[0]
        assert (top[schema.TASK_NAME], top[schema.EXCEPTION_TYPE], top[cols.FINGERPRINT]) == (
            "tasks.fetch", "TimeoutError", "timed out after <n>s")
        assert top[cols.TENANTS] == 2
        assert top[cols.TENANT_IDS] == "org-1, org-2"
        assert top[cols.FIRST_SEEN] == at(10)
        assert top[cols.LAST_SEEN] == at(30)
        assert top[cols.EXAMPLE_TASK_ID] == "a"
        assert out[cols.COUNT].sum() == task_totals(frame).iloc[0][cols.FAILED]

    def test_missing_exception_type_is_unknown_not_dropped(self) -> None:
        frame = make_frame([ev(FAILED, 1, **{schema.TASK_ID: "x", schema.TASK_NAME: "tasks.t"})])
        out = failures(frame)
        assert out.iloc[0][schema.EXCEPTION_TYPE] == "<unknown>"
        assert out.iloc[0][cols.COUNT] == 1

    @pytest.mark.parametrize("rows", [[], list(run("a", "tasks.ok", 0))])
    def test_no_failures_gives_headers_only(self, rows) -> None:
        out = failures(make_frame(rows))
        assert out.empty
        assert {schema.TASK_NAME, schema.EXCEPTION_TYPE, cols.COUNT} <= set(out.columns)


class TestRetries:
    """Retries per task and exception."""

    def test_counts_ids_and_max_retries(self) -> None:
        frame = make_frame([
            retry("a", 1, 0), retry("a", 2, 1), retry("a", 3, 2),
            retry("b", 4, 0),
            retry("c", 5, 0, exc="TimeoutError"),
        ])
        out = retries(frame).set_index(schema.EXCEPTION_TYPE)
        assert out.loc["ConnectionError", cols.COUNT] == 4
        assert out.loc["ConnectionError", cols.TASK_IDS] == 2
        assert out.loc["ConnectionError", cols.MAX_RETRIES] == 3  # the third retry logs retries=2
        assert out.loc["TimeoutError", cols.COUNT] == 1


class TestRetryStorms:
    """A task id or name retrying far above its norm is a storm; normal retrying is not."""

    def test_one_id_far_above_its_siblings(self) -> None:
        rows = [retry(f"calm-{i}", i, 0) for i in range(6)]
        rows += [retry("hot", 10 + i, i) for i in range(12)]
        out = retry_storms(make_frame(rows))
        by_id = out.loc[out[cols.SCOPE] == "task_id"]
        assert list(by_id[cols.KEY]) == ["hot"]
        assert by_id.iloc[0][cols.COUNT] == 12
        assert by_id.iloc[0][cols.NORM] == 1

    def test_a_name_bursting_in_one_bucket(self) -> None:
        # One retry every 10 minutes for 5 hours, then 40 retries within one minute.
        rows = [retry(f"slow-{i}", i * 600, 0) for i in range(30)]
        rows += [retry(f"burst-{i}", 9000 + i, 0) for i in range(40)]
        out = retry_storms(make_frame(rows))
        by_name = out.loc[out[cols.SCOPE] == "task_name"]
        assert list(by_name[cols.KEY]) == ["tasks.fetch"]
        assert by_name.iloc[0][cols.COUNT] >= 40

    @pytest.mark.parametrize(
        "rows",
        [
            [retry(f"t{i}", i * 60, 0) for i in range(20)],  # steady: one each
            [retry("a", i, i) for i in range(3)],  # below min_retries
            [],
        ],
    )
    def test_normal_retrying_is_no_storm(self, rows) -> None:
        assert retry_storms(make_frame(rows)).empty


class TestRetryOutcomes:
    """Per task name: recovered after retrying, exhausted (failed), or still pending."""

    def test_outcomes(self) -> None:
        frame = make_frame([
            retry("rec", 1, 0), *run("rec", "tasks.fetch", 5, retries=1),
            retry("exh", 1, 0), retry("exh", 2, 1), fail("exh", 3, retries=2),
            retry("pend", 1, 0),
            *run("plain", "tasks.fetch", 1),  # never retried: not counted
            retry("x", 1, 0, name="tasks.other"), *run("x", "tasks.other", 2),
        ])
        out = retry_outcomes(frame).set_index(schema.TASK_NAME)
        assert out.loc["tasks.fetch"].to_dict() == {
            cols.RETRIED_IDS: 3, cols.RECOVERED: 1, cols.EXHAUSTED: 1, cols.PENDING: 1}
        assert out.loc["tasks.other", cols.RECOVERED] == 1


def test_a_failure_logged_twice_counts_once() -> None:
    """Pool and main process both report a hard time limit: one attempt, one failure."""
    exc = "billiard.exceptions.TimeLimitExceeded"
    frame = make_frame([fail("t", 1, exc=exc, retries=0), fail("t", 1.001, exc=exc, retries=0),
                        fail("u", 2, retries=0), fail("u", 9, retries=1),  # two attempts
                        ev(FAILED, 3, **{schema.TASK_NAME: "tasks.fetch"})])  # no id: kept
    assert failures(frame)[cols.COUNT].sum() == 4
    assert task_totals(frame).iloc[0][cols.FAILED] == 4
