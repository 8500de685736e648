"""The report of a JSON-lines file computed in DuckDB equals ``build_report``'s, byte for byte.

``analyzers.file_report`` runs the report's SQL (``queries/sql/report``) over the decoded
file; ``analyze FILE`` uses it whenever it accepts the file. Compared here in every output
format with what ``ingest.read_sources`` + ``build_report`` give for the same file: the
bundled example (a real worker's run) and seeded synthetic workloads that reach every section
(duplicates, lost workers, storms, chord states, ties in time), with windows and filters.
Files it must decline (the general path reads them differently) are declined, and ``analyze``
still gives the library's report for them.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analyzers import file_report, ingest
from analyzers.render import render
from analyzers.report import COLUMNS, build_report
from analyzers.sources.files import open_sources
from instrumentation import schema
from tests.analyzers.console import SCRIPT
from tests.support.sample_logs.entries import synthetic_entries

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "worker.jsonl"
FORMATS = ("json", "text", "markdown", "html")
DEFAULTS: dict[str, Any] = {"since": None, "until": None, "now": None, "tenant": None,
                            "task": None, "stuck_after": timedelta(minutes=15)}


def library_report(path: Path, **options: Any):
    result = ingest.read_sources(open_sources([str(path)]), columns=COLUMNS)
    return build_report(result.frame, lines_read=result.lines_read,
                        lines_parsed=result.lines_parsed, unparsed=result.unparsed,
                        lines_truncated=result.lines_truncated, **options)


def assert_same(path: Path, **options: Any) -> None:
    options = {**DEFAULTS, **options}
    done = file_report.analyze_file(path, **options)
    assert done is not None, "the file should be read in DuckDB"
    want = library_report(path, **options)
    for fmt in FORMATS:
        assert render(done.report, fmt) == render(want, fmt), (fmt, options)


def synthetic_lines(seed: int, path: Path) -> Path:
    """A synthetic workload's entries as our JSON lines, in time order (ties included)."""
    with path.open("w") as out:
        for e in synthetic_entries(seed):
            if e.get("jsonPayload"):
                line = {
                    schema.TIME: e["timestamp"],
                    schema.SEVERITY: e.get("severity"),
                    **e["jsonPayload"],
                }
                out.write(json.dumps(line) + "\n")
    return path


def span(path: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    times = [pd.Timestamp(json.loads(line)[schema.TIME]) for line in path.read_text().splitlines()]
    return min(times), max(times)


class TestSameReport:
    @pytest.mark.parametrize("options", [
        {},
        {"stuck_after": timedelta(0)},
        {"tenant": "org-acme"},
        {"task": "rhesis.execution.*"},
        {"task": "rhesis.telemetry.ingest_batch"},
        {"tenant": "o'brien\\"},  # quotes and backslashes are values like any other
        {"task": "rhesis.exec*'x"},
    ])
    def test_the_example_run(self, options):
        assert_same(EXAMPLE, **options)

    def test_the_example_in_a_window(self):
        first, last = span(EXAMPLE)
        assert_same(EXAMPLE, since=first + (last - first) * 0.3,
                    until=first + (last - first) * 0.7, now=last)

    @pytest.mark.parametrize(("seed", "options"), [
        (1, {}),
        (1, {"tenant": "org-1"}),
        (2, {"stuck_after": timedelta(0)}),
        (3, {"tenant": "org-5"}),
        (4, {"task": "tasks.eval.*"}),
        (5, {"task": "tasks.[ab]"}),
        (6, {"cut": 0.4}),
    ])
    def test_synthetic_workloads(self, tmp_path, seed, options):
        path = synthetic_lines(seed, tmp_path / "w.jsonl")
        options = dict(options)
        if "cut" in options:
            first, last = span(path)
            options["since"] = first + (last - first) * options.pop("cut")
        assert_same(path, **options)
        report = file_report.analyze_file(path, **DEFAULTS).report.to_dict()
        if seed == 1:  # the workload reaches every section, so every query was compared
            for section in ("failures", "retries", "chords", "stuck_chords", "duplicates",
                            "lost_workers", "slow_tasks", "over_time"):
                assert report[section], section


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, lines: list[dict[str, Any]], sep: str = "\n") -> Path:
    path.write_text(sep.join(json.dumps(x) for x in lines) + "\n")
    return path


class TestDeclined:
    """Files the general path reads into other rows than the queries would see."""

    @pytest.mark.parametrize("case", [
        "time_goes_back", "requeued_flag", "line_without_time", "blank_line", "plain_text",
        "gzip", "bad_line", "other_logger",
    ])
    def test_declined_and_analyze_still_gives_the_library_report(self, tmp_path, case):
        lines = _lines(EXAMPLE)
        path = tmp_path / "w.jsonl"
        if case == "time_goes_back":
            lines[10], lines[11] = lines[11], lines[10]
            assert lines[10][schema.TIME] > lines[11][schema.TIME]
            _write(path, lines)
        elif case == "requeued_flag":
            lines[12][schema.REQUEUED] = True
            _write(path, lines)
        elif case == "line_without_time":
            del lines[12][schema.TIME]
            _write(path, lines)
        elif case == "blank_line":
            path.write_text("\n".join(json.dumps(x) for x in lines[:10]) + "\n\n"
                            + "\n".join(json.dumps(x) for x in lines[10:]) + "\n")
        elif case == "plain_text":
            path = tmp_path / "celery.log"
            path.write_bytes((ROOT / "examples" / "celery-plain.log").read_bytes())
        elif case == "gzip":
            path = tmp_path / "w.jsonl.gz"
            path.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
        elif case == "bad_line":
            path.write_text(EXAMPLE.read_text() + '{"time": "2026-12-02T09:00:00Z", "ev\n')
        elif case == "other_logger":  # python-json-logger: Celery's sentence in `message`
            _write(path, [{"asctime": "2026-12-02 08:00:56,756", "levelname": "INFO",
                           "message": "Task t.x[6d0c5c5e-5b5e-4c7e-9d8a-0a1b2c3d4e5f] "
                                      "received", "time": "2026-12-02T08:00:56Z",
                           "event": "log"}])
        assert file_report.analyze_file(path, **DEFAULTS) is None
        done = subprocess.run([SCRIPT, "analyze", "--format", "json", str(path)],
                              capture_output=True, timeout=120, check=False)
        text = render(library_report(path), "json")
        assert done.stdout.decode() == text + ("" if text.endswith("\n") else "\n")


def test_analyze_uses_it_and_prints_the_same_bytes(tmp_path):
    path = synthetic_lines(1, tmp_path / "w.jsonl")
    assert file_report.analyze_file(path, **DEFAULTS) is not None
    want = library_report(path)
    env = {**os.environ, "COLUMNS": "100"}
    for fmt in FORMATS:
        done = subprocess.run([SCRIPT, "analyze", "--format", fmt, str(path)],
                              capture_output=True, timeout=120, check=False, env=env)
        assert done.returncode == 0, done.stderr
        text = render(want, fmt, width=100, color=False)
        assert done.stdout.decode() == text + ("" if text.endswith("\n") else "\n"), fmt


def test_the_kept_duckdb_translations_are_current():
    """``analyzers/file_report_sql.py`` is what sqlglot makes of today's queries (else: run
    ``python -m analyzers.file_report``)."""
    from analyzers.file_report_sql import QUERIES
    from analyzers.sources import log_analytics as la

    assert set(QUERIES) == set(la.SECTIONS)
    for name in la.SECTIONS:
        sql = file_report.google_sql(name)
        assert QUERIES[name] == (file_report.digest(sql), file_report.translate(sql)), name
