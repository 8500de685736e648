"""docs/report.md documents every key of the JSON contract and every column of each section."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from analyzers.report import build_report
from tests.analyzers.report.frames import make_frame

# The package re-exports functions under some module names (``chords``, ``failures``...).
chords, duplicates, durations, failures, retries, timeseries, totals = (
    importlib.import_module(f"analyzers.report.{name}")
    for name in ("chords", "duplicates", "durations", "failures", "retries", "timeseries",
                 "totals")
)

DOC = (Path(__file__).resolve().parents[3] / "docs" / "report.md").read_text()

SECTION_COLUMNS = {
    "failures": failures.COLUMNS,
    "retries": retries.RETRY_COLUMNS,
    "retry_storms": retries.STORM_COLUMNS,
    "retry_outcomes": retries.OUTCOME_COLUMNS,
    "chords": chords.COLUMNS,
    "duplicates": duplicates.DUPLICATE_COLUMNS,
    "lost_workers": duplicates.LOST_COLUMNS,
    "slow_tasks": durations.COLUMNS,
    "over_time": timeseries.COLUMNS,
}


def test_every_top_level_key_is_documented() -> None:
    for key in build_report(make_frame([])).to_dict():
        assert f"`{key}`" in DOC, key


@pytest.mark.parametrize(("section", "columns"), sorted(SECTION_COLUMNS.items()))
def test_every_column_is_documented(section: str, columns: tuple[str, ...]) -> None:
    for column in columns:
        assert f"`{column}`" in DOC, f"{section}.{column}"


def test_totals_keys_are_documented() -> None:
    row = totals.task_totals(make_frame([])).iloc[0].to_dict()
    row.update(totals.line_totals(1, 1, records=1).iloc[0].to_dict())
    for key in row:
        assert f"`{key}`" in DOC, key
