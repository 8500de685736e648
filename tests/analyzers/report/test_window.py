"""Time windows, durations and the tenant/task filters."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from analyzers.report import filter_frame, filter_window, parse_duration, parse_instant
from instrumentation import schema
from tests.analyzers.report.frames import T0, at, ev, make_frame, run


class TestParseDuration:
    """Durations as the CLI accepts them."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [("15m", 900), ("90s", 90), ("1h30m", 5400), ("2d", 172800), ("300", 300),
         ("1.5h", 5400), ("250ms", 0.25), ("1w", 604800), (" 10 m ", 600)],
    )
    def test_accepted_forms(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == timedelta(seconds=seconds)

    @pytest.mark.parametrize("text", ["", "m", "15x", "1h-2m", "abc", "15m junk"])
    def test_rejects_with_an_example(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"e\.g\."):
            parse_duration(text)


class TestParseInstant:
    """A duration before now, or an absolute time, always UTC."""

    def test_relative_to_now(self) -> None:
        now = pd.Timestamp("2026-11-28T12:00:00Z")
        assert parse_instant("1h", now=now) == pd.Timestamp("2026-11-28T11:00:00Z")

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("2026-11-28T10:00:00Z", "2026-11-28T10:00:00Z"),
         ("2026-11-28T11:00:00+01:00", "2026-11-28T10:00:00Z"),
         ("2026-11-28 10:00", "2026-11-28T10:00:00Z")],  # naive is UTC
    )
    def test_absolute(self, text: str, expected: str) -> None:
        assert parse_instant(text) == pd.Timestamp(expected)

    def test_garbage_says_what_works(self) -> None:
        with pytest.raises(ValueError, match="15m"):
            parse_instant("yesterday-ish")


class TestFilters:
    """Window, tenant and task filters keep exactly the matching rows."""

    @pytest.fixture
    def frame(self) -> pd.DataFrame:
        return make_frame(
            [
                *run("a", "tasks.alpha", 0, **{schema.ORGANIZATION_ID: "org-1"}),
                *run(
                    "b",
                    "tasks.beta",
                    100,
                    **{schema.ORGANIZATION_ID: "org-2", schema.USER_ID: "u-9"},
                ),
                *run("c", "other.gamma", 200),
                ev(schema.Event.WORKER_READY, 300),
            ]
        )

    @pytest.mark.parametrize(
        ("since", "until", "ids"),
        [(None, None, {"a", "b", "c", None}),
         (at(50), None, {"b", "c", None}),
         (None, at(150), {"a", "b"}),
         (at(50), at(150), {"b"})],
    )
    def test_window(self, frame: pd.DataFrame, since, until, ids) -> None:
        out = filter_window(frame, since, until)
        assert (
            set(out[schema.TASK_ID].astype(object).where(out[schema.TASK_ID].notna(), None)) == ids
        )

    @pytest.mark.parametrize(
        ("kwargs", "ids"),
        [({"tenant": "org-1"}, {"a"}),
         ({"tenant": "u-9"}, {"b"}),  # a user id matches too
         ({"task": "tasks.beta"}, {"b"}),
         ({"task": "tasks.*"}, {"a", "b"}),
         ({"task": "*.gamma"}, {"c"}),
         ({"tenant": "org-1", "task": "tasks.beta"}, set()),
         ({"tenant": "nobody"}, set())],
    )
    def test_tenant_and_task(self, frame: pd.DataFrame, kwargs, ids) -> None:
        out = filter_frame(frame, **kwargs)
        assert set(out[schema.TASK_ID]) == ids

    def test_no_filter_is_the_same_frame(self, frame: pd.DataFrame) -> None:
        assert filter_frame(frame) is frame

    def test_window_drops_rows_without_time_only_when_bounded(self) -> None:
        frame = make_frame(
            [ev(schema.Event.LOG, 0), {schema.EVENT: "log", schema.MESSAGE: "no time"}]
        )
        assert len(filter_window(frame)) == 2
        assert len(filter_window(frame, since=T0 - pd.Timedelta("1h"))) == 1
