"""The schema module is the single contract: consistent, documented, and rendered for real."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from instrumentation import configure_logging, log_event, reset_logging
from instrumentation import schema as s
from instrumentation.schema_doc import events_table, fields_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


class TestSchemaModule:
    """Names are unique, every event has a severity, required fields are declared."""

    def test_field_names_unique(self):
        names = [f.name for f in s.FIELDS]
        assert len(names) == len(set(names))

    def test_every_event_has_a_severity(self):
        assert set(s.EVENT_SEVERITY) == set(s.Event)
        assert set(s.EVENT_SEVERITY.values()) <= set(s.SEVERITIES)

    def test_required_fields(self):
        """Every line: time, severity, event, pid; task lines add the task and its attempt.
        The rest (tenant, lineage, chord, trace, message) only when set (issue 15)."""
        assert set(s.ALWAYS_FIELDS) == {s.TIME, s.SEVERITY, s.EVENT, s.PID}
        assert set(s.REQUIRED_TASK_FIELDS) == {
            s.TIME, s.SEVERITY, s.EVENT, s.PID, s.TASK_ID, s.TASK_NAME, s.RETRIES}

    def test_jsonpayload_paths(self):
        assert s.jsonpayload(s.TASK_NAME) == "jsonPayload.task_name"
        assert s.jsonpayload(s.SEVERITY) == "severity"
        assert s.jsonpayload(s.TRACE) == "trace"
        with pytest.raises(KeyError, match="not a field"):
            s.jsonpayload("tenant")

    def test_frame_columns_cover_flat_fields(self):
        assert s.TASK_ID in s.FRAME_COLUMNS and s.POD in s.FRAME_COLUMNS
        assert s.LABELS not in s.FRAME_COLUMNS


class TestSchemaDoc:
    """docs/schema.md matches the code and has a real example line for the events."""

    def test_tables_match_the_code(self):
        text = DOC.read_text()
        assert fields_table() in text, "docs/schema.md is stale: run scripts/gen_schema_doc.py"
        assert events_table() in text

    def test_examples_are_real_lines(self):
        text = DOC.read_text()
        blocks = re.findall(r"### `(\w+)`\n\n```json\n(.+?)\n```", text)
        assert len(blocks) >= len(s.Event) - 3  # rejected/internal error/broker lost are rare
        for event, line in blocks:
            rec = json.loads(line)
            assert rec[s.EVENT] == event
            assert set(s.ALWAYS_FIELDS) <= set(rec), event
            assert None not in rec.values(), event  # empty values are left out
            if event in s.TASK_EVENTS:
                assert set(s.REQUIRED_TASK_FIELDS) <= set(rec), event
                assert s.MESSAGE not in rec, event
            else:
                assert rec[s.MESSAGE], event


@pytest.mark.parametrize("event", list(s.Event))
def test_every_event_renders_with_its_severity(event):
    """log_event writes each event with its default severity (none silently dropped)."""
    out = io.StringIO()
    configure_logging(stream=out)
    try:
        log_event(event, "example", **{s.TASK_ID: "t"})
    finally:
        reset_logging()
    rec = json.loads(out.getvalue())
    assert rec[s.EVENT] == event.value
    assert rec[s.SEVERITY] == s.EVENT_SEVERITY[event]
