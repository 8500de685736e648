"""What the chord recorder keeps from one published message (pure part of record.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kombu.utils import json as kombu_json

from instrumentation import schema
from worker.chord_monitor.model import REPLAY_RECORDED
from worker.chord_monitor.record import member_message, record_fields

CALLBACK = {"task": "app.collect", "args": [], "kwargs": {"user_id": "u-cb"},
            "options": {"task_id": "cb-1", "group_id": "g"}}


def _headers(**extra):
    return {"id": "m-1", "task": "app.member", "group": "g", "group_index": 2, **extra}


class TestRecordFields:
    def test_chord_member(self):
        """A header member yields the callback, its id and name, and the member by index."""
        found = record_fields(
            _headers(**{schema.ORGANIZATION_ID: "org-h"}),
            [[1], {schema.ORGANIZATION_ID: "org-kw"}, {"chord": CALLBACK}], "", "celery",
            {"priority": 5, "reply_to": "r", "correlation_id": "m-1"})
        fields = found.fields
        assert json.loads(fields["callback"]) == CALLBACK
        assert kombu_json.loads(fields["callback_message"]) == CALLBACK
        assert (fields["callback_id"], fields["callback_name"]) == ("cb-1", "app.collect")
        assert fields[schema.ORGANIZATION_ID] == "org-h"  # headers win over kwargs
        assert schema.USER_ID not in fields  # the member named an org: callback kwargs not mixed in
        assert found.index == "2"
        assert json.loads(found.member) == ["m-1", "app.member", REPLAY_RECORDED]
        copy = kombu_json.loads(found.payload)
        # The callback is kept once in the record, not in every member's copy.
        assert copy == {"headers": _headers(**{schema.ORGANIZATION_ID: "org-h"}),
                        "body": [[1], {schema.ORGANIZATION_ID: "org-kw"}, {}],
                        "exchange": "", "routing_key": "celery",
                        "properties": {"priority": 5, "reply_to": "r"}}

    def test_tenant_from_callback_kwargs_when_members_have_none(self):
        found = record_fields(_headers(), [[], {}, {"chord": CALLBACK}])
        assert found.fields[schema.USER_ID] == "u-cb"

    def test_not_a_chord_member(self):
        """Plain tasks, groups without a chord, and protocol-1 bodies are ignored."""
        assert record_fields({"id": "t", "task": "x"}, [[], {}, {"chord": None}]) is None
        assert record_fields(_headers(), [[], {}, {"chord": None}]) is None
        assert record_fields(_headers(), {"chord": CALLBACK}) is None


class TestMemberCopy:
    def test_too_large_is_listed_not_kept(self):
        """A member over the cap is listed with why, and no copy is written."""
        found = record_fields(_headers(), [["x" * 5000], {}, {"chord": CALLBACK}], "",
                              "celery", max_bytes=1000)
        replay = json.loads(found.member)[2]
        assert replay.startswith("not recorded: too large (") and "> 1000)" in replay
        assert found.payload is None

    def test_kombu_json_keeps_datetimes_exactly(self):
        """Args the json serializer can send (a datetime) come back as the same value."""
        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        replay, copy = member_message(_headers(), [[when], {"at": when}, {}], "", "q")
        assert replay == REPLAY_RECORDED
        assert kombu_json.loads(copy)["body"][:2] == [[when], {"at": when}]

    def test_other_serializer_or_unserializable_is_not_kept(self):
        replay, copy = member_message(_headers(), [[1], {}, {}], "", "q", serializer="pickle")
        assert (replay, copy) == (
            "not recorded: task_serializer pickle (only json messages are kept)", None)
        replay, copy = member_message(_headers(), [[object()], {}, {}], "", "q")
        assert (replay, copy) == ("not recorded: not JSON-serializable", None)
