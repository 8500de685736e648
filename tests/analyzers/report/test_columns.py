"""``report.COLUMNS``: the frame columns the report reads, and nothing it reads left out.

``analyze`` asks the ingest to decode only these; a column missing here would silently be
null in every report, so both the sections' source and their results are checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analyzers import ingest
from analyzers.render import render
from analyzers.report import COLUMNS, build_report
from analyzers.sources.files import open_sources
from instrumentation import schema

ROOT = Path(__file__).resolve().parents[3]
READERS = [*sorted((ROOT / "analyzers" / "report").glob("*.py")),
           *sorted((ROOT / "analyzers" / "render").glob("*.py"))]


def test_every_frame_column_the_sections_name_is_in_columns():
    named = set()
    for path in READERS:
        for const in re.findall(r"\bschema\.([A-Z][A-Z0-9_]*)\b", path.read_text()):
            value = getattr(schema, const)
            if isinstance(value, str) and value in schema.FRAME_COLUMNS:
                named.add(value)
    assert named, "the scan found no column names: the pattern is wrong"
    assert named <= COLUMNS, f"read by the report but not in COLUMNS: {named - COLUMNS}"
    assert COLUMNS.issubset(schema.FRAME_COLUMNS)


def test_the_report_is_the_same_with_only_its_columns():
    """Over each bundled example, whichever reader takes it."""
    for name in ("worker.jsonl", "kubectl.log", "celery-plain.log"):
        path = ROOT / "examples" / name
        full = ingest.read_sources(open_sources([path]))
        some = ingest.read_sources(open_sources([path]), columns=COLUMNS)
        reports = [
            build_report(r.frame, lines_read=r.lines_read, lines_parsed=r.lines_parsed,
                         unparsed=r.unparsed, now=pd.Timestamp("2026-12-01", tz="UTC"))
            for r in (full, some)
        ]
        assert reports[0].to_dict()["tasks"]["received"] > 0, name
        assert render(reports[0], "json") == render(reports[1], "json"), name
