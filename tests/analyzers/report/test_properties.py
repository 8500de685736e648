"""Property tests: any mix of records gives a report that holds together, in every format."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers.render import FORMATS, render
from analyzers.report import build_report
from analyzers.report import columns as cols
from instrumentation import schema as s
from tests.analyzers.report.frames import at, make_frame

EVENTS = [str(e) for e in s.Event]
maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731

record = st.fixed_dictionaries(
    {
        s.EVENT: maybe(EVENTS),
        s.TIME: st.one_of(st.none(), st.integers(0, 7200).map(at)),
        s.TASK_ID: maybe(["t1", "t2", "t3", "cb-1", "5e0c7f2a-1b3d-4c5e-8f90-a1b2c3d4e5f6"]),
        s.TASK_NAME: maybe(["tasks.a", "tasks.b"]),
        s.ORGANIZATION_ID: maybe(["org-1", "org-2"]),
        s.GROUP_ID: maybe(["g1", "g2"]),
        s.CHORD_ID: maybe(["g1", "g3"]),
        s.CHORD_CALLBACK_ID: maybe(["cb-1", "t1"]),
        s.CHORD_SIZE: maybe([1, 2, 3]),
        s.RETRIES: maybe([0, 1, 2]),
        s.DURATION_MS: st.one_of(st.none(), st.floats(0, 1e6)),
        s.QUEUE_WAIT_MS: st.one_of(st.none(), st.floats(0, 1e5)),
        s.EXCEPTION_TYPE: maybe(["ValueError", "billiard.exceptions.WorkerLostError",
                                 "celery.exceptions.TimeLimitExceeded"]),
        s.EXCEPTION_MESSAGE: st.one_of(st.none(), st.text(max_size=40)),
        s.MESSAGE: st.one_of(st.none(), st.text(max_size=40),
                             st.just("Chord 'g2' raised: ChordError('x')")),
        s.WORKER: maybe(["w1", "w2"]),
        s.REDELIVERED: st.one_of(st.none(), st.booleans()),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(record, max_size=40),
       stuck_min=st.integers(0, 120), tenant=maybe(["org-1", "nobody"]))
def test_any_records_give_a_coherent_report(rows, stuck_min, tenant) -> None:
    frame = make_frame(rows)
    report = build_report(frame, stuck_after=pd.Timedelta(minutes=stuck_min), tenant=tenant)
    d = json.loads(json.dumps(report.to_dict()))  # plain JSON all the way down
    tasks = d["tasks"]
    assert sum(f["count"] for f in d["failures"]) <= tasks["failed"] + sum(
        1 for r in rows if r[s.EVENT] == s.Event.TASK_INTERNAL_ERROR)
    for row in d["retry_outcomes"]:
        outcomes = row[cols.RECOVERED] + row[cols.EXHAUSTED] + row[cols.PENDING]
        assert outcomes == row[cols.RETRIED_IDS]
    assert sum(r["count"] for r in d["retries"]) == tasks["retried"]
    for chord in d["chords"]:
        assert 0 <= chord[s.MEMBERS_FAILED] <= chord[cols.MEMBERS_FINISHED]
        assert chord[cols.MEMBERS_FINISHED] <= chord[cols.MEMBERS_PUBLISHED]
    assert {ch[s.CHORD_ID] for ch in d["stuck_chords"]} <= {ch[s.CHORD_ID] for ch in d["chords"]}
    for bucket in d["over_time"]:
        counts = (cols.RECEIVED, cols.SUCCEEDED, cols.FAILED, cols.RETRIED)
        assert min(bucket[k] for k in counts) >= 0
    for fmt in FORMATS:
        assert render(report, fmt).strip()
