"""What the chord recorder keeps from one published message (pure part of record.py)."""

from __future__ import annotations

import json

from instrumentation import schema as s
from worker.chord_monitor.record import record_fields

CALLBACK = {"task": "app.collect", "args": [], "kwargs": {"user_id": "u-cb"},
            "options": {"task_id": "cb-1", "group_id": "g"}}


def _headers(**extra):
    return {"id": "m-1", "task": "app.member", "group": "g", "group_index": 2, **extra}


class TestRecordFields:
    def test_chord_member(self):
        """A header member yields the callback, its id and name, and the member by index."""
        fields, index, member = record_fields(
            _headers(**{s.ORGANIZATION_ID: "org-h"}),
            [[1], {s.ORGANIZATION_ID: "org-kw"}, {"chord": CALLBACK}])
        assert json.loads(fields["callback"]) == CALLBACK
        assert (fields["callback_id"], fields["callback_name"]) == ("cb-1", "app.collect")
        assert fields[s.ORGANIZATION_ID] == "org-h"  # headers win over kwargs
        assert s.USER_ID not in fields  # the member named an org: callback kwargs not mixed in
        assert (index, json.loads(member)) == ("2", ["m-1", "app.member"])

    def test_tenant_from_callback_kwargs_when_members_have_none(self):
        fields, _, _ = record_fields(_headers(), [[], {}, {"chord": CALLBACK}])
        assert fields[s.USER_ID] == "u-cb"

    def test_not_a_chord_member(self):
        """Plain tasks, groups without a chord, and protocol-1 bodies are ignored."""
        assert record_fields({"id": "t", "task": "x"}, [[], {}, {"chord": None}]) is None
        assert record_fields(_headers(), [[], {}, {"chord": None}]) is None
        assert record_fields(_headers(), {"chord": CALLBACK}) is None
