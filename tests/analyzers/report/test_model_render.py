"""The assembled report, its JSON contract, and the four renderers."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pandas as pd
import pytest

from analyzers.render import FORMATS, render, render_frame
from analyzers.report import CONDITIONS, build_report, chord_timeline, task_timeline
from analyzers.report import columns as cols
from instrumentation import schema
from tests.analyzers.report.frames import at, ev, make_frame, run

CONTRACT_KEYS = {"lines", "tasks", "failures", "retries", "stuck_chords", "duplicates",
                 "slow_tasks"}


def sample_rows() -> list[dict]:
    """Two tenants, a failure, a retry that recovered, a stuck chord, a duplicate."""
    chord = {schema.GROUP_ID: "chord-1", schema.CHORD_CALLBACK_ID: "cb-1",
             schema.CHORD_CALLBACK_NAME: "tasks.collect", schema.CHORD_SIZE: 2,
             schema.ORGANIZATION_ID: "org-b"}
    return [
        *run("ok-1", "tasks.add", 0, **{schema.ORGANIZATION_ID: "org-a", schema.POD: "worker-0"}),
        *run(
            "bad-1",
            "tasks.fetch",
            5,
            outcome=schema.Event.TASK_FAILED,
            **{
                schema.ORGANIZATION_ID: "org-a",
                schema.EXCEPTION_TYPE: "TimeoutError",
                schema.EXCEPTION_MESSAGE: "timed out after 30s <script>alert(1)</script>",
            },
        ),
        *run(
            "re-1",
            "tasks.fetch",
            10,
            outcome=schema.Event.TASK_RETRIED,
            **{schema.ORGANIZATION_ID: "org-b", schema.EXCEPTION_TYPE: "ConnectionError"},
        ),
        *run("re-1", "tasks.fetch", 20, **{schema.ORGANIZATION_ID: "org-b", schema.RETRIES: 1}),
        *run("m-1", "tasks.member", 30, **chord, **{schema.POD: "worker-1"}),
        ev(
            schema.Event.TASK_PUBLISHED,
            29,
            **{schema.TASK_ID: "m-2", schema.TASK_NAME: "tasks.member", **chord},
        ),
        *run(
            "ok-1", "tasks.add", 3700, **{schema.ORGANIZATION_ID: "org-a", schema.POD: "worker-2"}
        ),
    ]


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(sample_rows())


@pytest.fixture
def report(frame):
    unparsed = pd.DataFrame(
        {schema.SOURCE: ["w.log"], schema.LINE_NO: [7], schema.RAW: ["\x00garbage"]}
    )
    return build_report(frame, lines_read=len(frame) + 1, lines_parsed=len(frame),
                        unparsed=unparsed, stuck_after=timedelta(minutes=15))


class TestBuildReport:
    """Every section is there, counts agree with the rows, conditions are right."""

    def test_contract_keys_and_counts(self, report, frame) -> None:
        d = report.to_dict()
        assert set(d) >= CONTRACT_KEYS
        assert d["lines"] == {"read": len(frame) + 1, "parsed": len(frame), "unparsed": 1,
                              "records": len(frame), "truncated": 0}
        assert {k: d["tasks"][k] for k in ("received", "succeeded", "failed", "retried")} == {
            "received": 6, "succeeded": 4, "failed": 1, "retried": 1}
        assert [(f["task_name"], f["exception_type"], f["count"]) for f in d["failures"]] == [
            ("tasks.fetch", "TimeoutError", 1)]
        assert [r[schema.EXCEPTION_TYPE] for r in d["retries"]] == ["ConnectionError"]
        assert [ch[schema.CHORD_ID] for ch in d["stuck_chords"]] == ["chord-1"]
        assert d["stuck_chords"][0][schema.ORGANIZATION_ID] == "org-b"
        assert d["stuck_chords"][0][schema.CHORD_CALLBACK_NAME] == "tasks.collect"
        assert [dup[schema.TASK_ID] for dup in d["duplicates"]] == ["ok-1"]
        assert {row[schema.TASK_NAME] for row in d["slow_tasks"]} == {
            "tasks.add", "tasks.fetch", "tasks.member"}
        assert d["unparsed"]["count"] == 1
        assert d["unparsed"]["examples"][0][schema.LINE_NO] == 7
        json.dumps(d)  # plain JSON types only

    def test_conditions_and_failing(self, report) -> None:
        assert report.conditions() == {"failures": True, "stuck": True, "retry-storm": False,
                                       "no_task_events": False}
        assert report.failing(["retry-storm", "stuck"]) == ["stuck"]
        assert report.failing([]) == []
        with pytest.raises(ValueError, match="choose from"):
            report.failing(["nope"])
        assert set(CONDITIONS) | {"no_task_events"} == set(report.conditions())

    def test_tenant_filter_changes_sections_not_reference_time(self, frame) -> None:
        only_b = build_report(frame, tenant="org-b")
        d = only_b.to_dict()
        assert d["tasks"]["failed"] == 0
        assert d["filters"] == {"tenant": "org-b", "task": None}
        # org-b's chord is judged against the end of the whole log, not org-b's last line.
        assert [ch[schema.CHORD_ID] for ch in d["stuck_chords"]] == ["chord-1"]
        assert d["window"]["reference_time"].startswith("2026-11-28T11:01:40")

    def test_window_and_now(self, frame) -> None:
        early = build_report(frame, until=at(100), stuck_after=timedelta(minutes=15))
        assert early.to_dict()["tasks"]["received"] == 5
        assert early.stuck_chords.empty  # 70 s after the chord's last line: pending
        assert early.chords.iloc[0][cols.CHORD_STATE] == "pending"

    def test_empty_frame(self) -> None:
        d = build_report(make_frame([])).to_dict()
        assert d["tasks"]["received"] == 0
        assert d["failures"] == [] and d["stuck_chords"] == []
        # Nothing wrong with tasks, but nothing read either: never "healthy" on nothing.
        assert d["conditions"] == {"failures": False, "stuck": False, "retry-storm": False,
                                   "no_task_events": True}
        assert [f["condition"] for f in d["findings"]] == ["no_task_events"]


class TestRenderers:
    """Each format carries the findings; HTML is one page with inline SVG and no scripts."""

    def test_json_is_the_contract(self, report) -> None:
        doc = json.loads(render(report, "json"))
        assert doc == json.loads(json.dumps(report.to_dict()))

    def test_text_names_the_findings(self, report) -> None:
        out = render(report, "text", width=200)
        for needle in ("Failures by task", "TimeoutError", "chord-1", "org-b",
                       "tasks.collect", "Findings:", "failures, stuck"):
            assert needle in out
        assert "\x1b[" not in out  # no colour codes unless asked

    def test_markdown_tables(self, report) -> None:
        out = render(report, "markdown")
        assert out.startswith("# rhesis-logs report")
        assert "| task | exception |" in out
        assert "chord-1" in out
        assert "\\<script\\>" in out  # escaped, not live HTML in a ticket

    def test_html_single_page_with_svg(self, report) -> None:
        page = render(report, "html")
        assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
        assert page.count("<svg") >= 2  # over time + percentiles
        assert "<script" not in page  # the log's <script> is escaped
        assert "&lt;script&gt;" in page
        # self-contained: nothing loaded from anywhere
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
        for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
            ET.fromstring(svg)  # well-formed XML

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_every_format_handles_an_empty_report(self, fmt) -> None:
        out = render(build_report(make_frame([])), fmt)
        assert out.strip()

    def test_unknown_format(self, report) -> None:
        with pytest.raises(ValueError, match="choose from"):
            render(report, "pdf")


class TestTimeline:
    """One task's or one chord's lines in lifecycle order, with roles."""

    def test_task(self, frame) -> None:
        out = task_timeline(frame, "re-1")
        assert list(out[schema.EVENT]) == ["task_received", "task_started", "task_retried",
                                      "task_received", "task_started", "task_succeeded"]
        assert (out[cols.ROLE] == "task").all()

    def test_chord_by_group_or_callback_id(self, frame) -> None:
        rows = sample_rows() + run("cb-1", "tasks.collect", 40)
        f = make_frame(rows)
        by_group = chord_timeline(f, "chord-1")
        by_callback = chord_timeline(f, "cb-1")
        assert by_group.equals(by_callback)
        assert list(by_group[cols.ROLE]) == ["member"] * 4 + ["callback"] * 3
        assert by_group[schema.TIME].is_monotonic_increasing
        assert by_group.iloc[0][schema.EVENT] == "task_published"

    def test_unknown_id_is_empty(self, frame) -> None:
        assert task_timeline(frame, "nope").empty
        assert chord_timeline(frame, "nope").empty

    @pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
    def test_render_frame(self, frame, fmt) -> None:
        out = render_frame(task_timeline(frame, "bad-1"), fmt, "Timeline of task bad-1")
        assert "task_failed" in out
