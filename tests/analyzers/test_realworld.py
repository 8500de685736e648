"""Format invariance: the same workload, logged 11 ways, gives the report its truth.

Every sample in ``tests/fixtures/realworld`` is a real run of one workload on real Celery
workers (``generate.py``), logged by a different setup (Celery's default text, a custom
``worker_log_format``, ``-l DEBUG``, python-json-logger plain and renamed, structlog, a
hand-rolled JSON formatter, kubectl output of two pods, Cloud Logging text and JSON
entries, our instrumentation), with ``truth.json`` read from the result backend, never from
the log. Each report must equal that truth, so the reports are identical across setups
except where ``EXPECTED.md`` says a format cannot tell (chords without the group id).
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from analyzers import ingest
from analyzers.cli import main
from analyzers.report import COLUMNS, build_report
from analyzers.sources.files import open_sources
from instrumentation.exit_status import ExitStatus
from tests.fixtures.realworld import SAMPLES, Sample, load

#: Formats that carry the chord's group id (EXPECTED.md): only our instrumentation. (At
#: -l DEBUG it sits in a truncated Python repr of the request, which is not read.)
CHORDS_TOLD = {"instrumented_prefork"}
#: Formats that name the task of a lost pool process in a field (the others let it be
#: inferred from the requeue: received again with no outcome in between).
LOST_TASK_FIELD = {"instrumented_prefork"}

_REPORTS: dict[str, dict[str, Any]] = {}


def report_of(sample: Sample) -> dict[str, Any]:
    if sample.name not in _REPORTS:
        result = ingest.read_sources(open_sources([str(sample.path)]), columns=COLUMNS)
        report = build_report(result.frame, lines_read=result.lines_read,
                              lines_parsed=result.lines_parsed, unparsed=result.unparsed)
        _REPORTS[sample.name] = report.to_dict()
    return _REPORTS[sample.name]


def summary(report: dict[str, Any], chords_told: bool) -> dict[str, Any]:
    """What the report says about the workload, in the truth's terms."""
    tasks = report["tasks"]
    failures: dict[str, dict[str, int]] = {}
    for row in report["failures"]:
        by = failures.setdefault(row["task_name"], {})
        exc = str(row["exception_type"]).rsplit(".", 1)[-1]  # Celery stores the class name
        by[exc] = by.get(exc, 0) + int(row["count"])
    lost = [r for r in report["lost_workers"] if r["kind"] == "worker_lost"]
    chords = report["chords"]
    return {
        "tasks": tasks["task_ids"],
        "succeeded": tasks["succeeded"],
        "failed": tasks["failed"],
        "revoked": tasks["revoked"],
        "retries": tasks["retried"],
        "retried_tasks": sum(r["retried_ids"] for r in report["retry_outcomes"]),
        "retry_recovered": sum(r["recovered"] for r in report["retry_outcomes"]),
        "retry_exhausted": sum(r["exhausted"] for r in report["retry_outcomes"]),
        "failures": failures,
        "worker_lost": sum(r["count"] for r in lost),
        "worker_lost_requeued": sum(r["requeued"] for r in lost),
        "time_limits": sum(r["count"] for r in report["lost_workers"]
                           if r["kind"] == "time_limit"),
        "chords": len(chords) if chords_told else None,
        "chords_completed": sum(c["chord_state"] == "completed" for c in chords)
        if chords_told else None,
        "stuck_chords": len(report["stuck_chords"]),
    }


def truth_summary(sample: Sample, chords_told: bool) -> dict[str, Any]:
    c = sample.truth.counts
    return {
        "tasks": c["tasks"], "succeeded": c["succeeded"], "failed": c["failed"],
        "revoked": c["revoked"], "retries": c["retries"], "retried_tasks": c["retried_tasks"],
        "retry_recovered": c["retry_recovered"], "retry_exhausted": c["retry_exhausted"],
        "failures": sample.truth.failures,
        "worker_lost": c["worker_lost"],
        "worker_lost_requeued": c["worker_lost_requeued_then_succeeded"],
        "time_limits": 0,  # none happened: rw.report raising SoftTimeLimitExceeded is a failure
        "chords": c["chords"] if chords_told else None,
        "chords_completed": c["chords_completed"] if chords_told else None,
        "stuck_chords": 0,
    }


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 11


@pytest.mark.parametrize("name", SAMPLES)
def test_report_equals_truth(name: str) -> None:
    sample = load(name)
    told = name in CHORDS_TOLD
    assert summary(report_of(sample), told) == truth_summary(sample, told)


@pytest.mark.parametrize("name", SAMPLES)
def test_lost_pool_process_names_its_task(name: str) -> None:
    """The killed task is named: from the field where the format has one, else inferred
    from its requeue (received again with no outcome in between)."""
    sample = load(name)
    lost = [r for r in report_of(sample)["lost_workers"] if r["kind"] == "worker_lost"]
    assert [r["example_task_id"] for r in lost] == sample.truth.ids(kind="worker_lost_requeued")
    duplicates = {d["task_id"]: d["likely_cause"] for d in report_of(sample)["duplicates"]}
    for tid in sample.truth.ids(kind="worker_lost_requeued"):
        assert duplicates.get(tid) == "worker_lost"


@pytest.mark.parametrize("name", SAMPLES)
def test_lines_are_accounted_for(name: str) -> None:
    report = report_of(load(name))
    lines = report["lines"]
    assert lines["read"] == lines["parsed"] + lines["unparsed"]
    assert report["unparsed"]["count"] == lines["unparsed"]
    assert not report["conditions"]["no_task_events"]
    # Celery's own banner is read as one record, never as unparsed lines.
    assert not any("[tasks]" in str(u["raw"]) or "v5." in str(u["raw"])
                   for u in report["unparsed"]["examples"])


@pytest.mark.parametrize("name", SAMPLES)
def test_instrumented_chord_is_the_truths(name: str) -> None:
    sample = load(name)
    chords = report_of(sample)["chords"]
    if name not in CHORDS_TOLD:
        assert chords == []  # no group id in this format: a chord must not be invented
        return
    assert [(c["chord_id"], c["chord_callback_id"], c["chord_state"]) for c in chords] == [
        (sample.truth.chord["group_id"], sample.truth.chord["callback_id"], "completed")]


def test_identical_across_setups() -> None:
    """Setups that ran the same workload (same truth counts) give the same summary."""
    by_truth: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name in SAMPLES:
        sample = load(name)
        key = repr(sorted(sample.truth.counts.items()))
        by_truth.setdefault(key, []).append((name, summary(report_of(sample), False)))
    assert len(by_truth) >= 2  # prefork (a lost process) and threads/solo (none)
    for group in by_truth.values():
        first_name, first = group[0]
        for name, other in group[1:]:
            assert other == first, (first_name, name)


@pytest.mark.parametrize("name", SAMPLES)
def test_fail_on_failures_exits_findings(name: str) -> None:
    sample = load(name)
    result = CliRunner().invoke(main, ["analyze", str(sample.path), "--format", "json",
                                       "--fail-on", "failures"])
    assert result.exit_code == ExitStatus.FINDINGS, result.output
