"""Property tests: any mix of records gives a report that holds together, in every format."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers.render import FORMATS, render
from analyzers.report import build_report
from analyzers.report import columns as cols
from instrumentation import schema
from tests.analyzers.report.frames import at, make_frame

EVENTS = [str(e) for e in schema.Event]
maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731

record = st.fixed_dictionaries(
    {
        schema.EVENT: maybe(EVENTS),
        schema.TIME: st.one_of(st.none(), st.integers(0, 7200).map(at)),
        schema.TASK_ID: maybe(["t1", "t2", "t3", "cb-1", "5e0c7f2a-1b3d-4c5e-8f90-a1b2c3d4e5f6"]),
        schema.TASK_NAME: maybe(["tasks.a", "tasks.b"]),
        schema.ORGANIZATION_ID: maybe(["org-1", "org-2"]),
        schema.GROUP_ID: maybe(["g1", "g2"]),
        schema.CHORD_ID: maybe(["g1", "g3"]),
        schema.CHORD_CALLBACK_ID: maybe(["cb-1", "t1"]),
        schema.CHORD_SIZE: maybe([1, 2, 3]),
        schema.RETRIES: maybe([0, 1, 2]),
        schema.DURATION_MS: st.one_of(st.none(), st.floats(0, 1e6)),
        schema.QUEUE_WAIT_MS: st.one_of(st.none(), st.floats(0, 1e5)),
        schema.EXCEPTION_TYPE: maybe(["ValueError", "billiard.exceptions.WorkerLostError",
                                 "celery.exceptions.TimeLimitExceeded"]),
        schema.EXCEPTION_MESSAGE: st.one_of(st.none(), st.text(max_size=40)),
        schema.MESSAGE: st.one_of(st.none(), st.text(max_size=40),
                             st.just("Chord 'g2' raised: ChordError('x')")),
        schema.WORKER: maybe(["w1", "w2"]),
        schema.REDELIVERED: st.one_of(st.none(), st.booleans()),
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
        1 for r in rows if r[schema.EVENT] == schema.Event.TASK_INTERNAL_ERROR)
    for row in d["retry_outcomes"]:
        outcomes = row[cols.RECOVERED] + row[cols.EXHAUSTED] + row[cols.PENDING]
        assert outcomes == row[cols.RETRIED_IDS]
    assert sum(r["count"] for r in d["retries"]) == tasks["retried"]
    for chord in d["chords"]:
        assert 0 <= chord[schema.MEMBERS_FAILED] <= chord[cols.MEMBERS_FINISHED]
        assert chord[cols.MEMBERS_FINISHED] <= chord[cols.MEMBERS_PUBLISHED]
    assert {ch[schema.CHORD_ID] for ch in d["stuck_chords"]} <= {
        ch[schema.CHORD_ID] for ch in d["chords"]
    }
    for bucket in d["over_time"]:
        counts = (cols.RECEIVED, cols.SUCCEEDED, cols.FAILED, cols.RETRIED)
        assert min(bucket[k] for k in counts) >= 0
    for fmt in FORMATS:
        assert render(report, fmt).strip()
