"""The faults, one function each: set up a :class:`Scenario`, hit it mid-run, let it finish,
return its :class:`Verdict` (``problems`` lists every broken promise)."""

from __future__ import annotations

import signal
import time
from functools import partial

from instrumentation import schema
from tests.chaos.harness import MEMBER, REDELIVER_ENV, Scenario, Verdict, sigkill
from tests.support import hold_for, wait_for

#: How long the workload may take after the fault before the chord monitor is asked.
SETTLE_S = 150
#: Once every run is done, how long the queues and ``unacked`` may take to drain before the
#: monitor is asked (an orphaned message never drains by itself).
SETTLE_AFTER_DONE_S = 30


def _start(sc: Scenario) -> None:
    sc.redis.start()
    sc.start_worker()
    wait_for(lambda: any(p.status == 200 for p in sc.sampler.probes), timeout=60,
             message=f"{sc.name}: /health 200 before the fault")


def _finish(sc: Scenario, settle_s: float = SETTLE_S) -> Verdict:
    """Wait for every callback and for the broker to drain; what Celery leaves stuck (a
    chord that cannot finish, a message orphaned in ``unacked``, a member lost in kombu's
    delivery) goes to the chord monitor, and then everything must complete."""
    if not sc.wait_done(settle_s) or not sc.settle(SETTLE_AFTER_DONE_S):
        sc.recover_stuck()
        sc.wait_done(60)
    settled = sc.settle()
    verdict = sc.verdict()
    if not settled:
        verdict.problems.append("messages still queued or unacked after every run finished")
    # A chord with lost members (kombu's BRPOP window: taken from the queue, killed before
    # unacked was written) is recoverable only by re-publishing them; the run's callback
    # (checked by the verdict) must then follow.
    for entry in verdict.recovered:
        if entry["reason"] == "members_lost" and not entry.get("republished"):
            verdict.problems.append(f"chord {entry['chord_id']} members_lost: recover "
                                    f"re-published nothing ({entry.get('detail')})")
    return verdict


def redis_outage(sc: Scenario, seconds: float, times: int = 1) -> Verdict:
    """Redis SIGKILLed while chord members run, back ``seconds`` later (AOF on); ``times``
    outages in a row, each once members run again after the previous one."""
    sc.sampler.start()
    _start(sc)
    sc.publish(runs=6 + 3 * (times - 1))
    sc.wait_mid_run()
    outages = []
    for n in range(times):
        if n:
            wait_for(partial(_ran_since, sc, sc.marks["redis_up"]), timeout=60,
                     message=f"{sc.name}: members to run again after outage {n}")
        sc.outage(seconds)
        outages.append((sc.marks["redis_down"], sc.marks["redis_up"]))
    verdict = _finish(sc)
    for down, up in outages:
        verdict.problems += sc.health_problems(down, up)
    dead = [w.hostname for w in sc.workers if not w.alive()]
    if dead:
        verdict.problems.append(f"worker(s) exited during the outage: {dead}")
    return verdict


def _ran_since(sc: Scenario, since: float) -> bool:
    return any(_started_at(e) > since
               for e in sc.events(schema.Event.TASK_STARTED, **{schema.TASK_NAME: MEMBER}))


def _started_at(event: dict) -> float:
    """A log line's time on this process's monotonic clock (the marks' clock)."""
    from datetime import datetime

    wall = datetime.fromisoformat(event[schema.TIME].replace("Z", "+00:00")).timestamp()
    return time.monotonic() - (time.time() - wall)


def _running_member(sc: Scenario) -> dict | None:
    """A member's task_started line with no outcome yet, from a live pool child."""
    ended = {(e[schema.TASK_ID], e.get(schema.RETRIES)) for event in (
        schema.Event.TASK_SUCCEEDED, schema.Event.TASK_RETRIED, schema.Event.TASK_FAILED)
        for e in sc.events(event, **{schema.TASK_NAME: MEMBER})}
    children = set(sc.pool_pids())
    for e in reversed(sc.events(schema.Event.TASK_STARTED, **{schema.TASK_NAME: MEMBER})):
        if (e[schema.TASK_ID], e.get(schema.RETRIES)) not in ended and e.get(
            schema.PID
        ) in children:
            return e
    return None


def pool_process_killed(sc: Scenario) -> Verdict:
    """A prefork child SIGKILLed while it runs a chord member."""
    sc.sampler.start()
    _start(sc)
    sc.publish()
    for _ in range(5):
        victim = wait_for(lambda: _running_member(sc), timeout=60,
                          message="a member running in a pool process")
        sigkill(victim[schema.PID])
        sc.mark("killed")
        # The logs lag the processes: if the member's outcome was logged by that child, it
        # had finished before the kill landed; pick another.
        finished = [
            e
            for e in sc.events(
                schema.Event.TASK_SUCCEEDED, **{schema.TASK_ID: victim[schema.TASK_ID]}
            )
            if e.get(schema.PID) == victim[schema.PID]
        ]
        if not finished:
            break
    verdict = _finish(sc)
    # acks_late + reject_on_worker_lost: the member went back to the queue and ran again.
    reruns = [
        e
        for e in sc.events(schema.Event.TASK_STARTED, **{schema.TASK_ID: victim[schema.TASK_ID]})
        if e.get(schema.PID) != victim[schema.PID]
    ]
    if not reruns:
        verdict.problems.append(f"killed member {victim[schema.TASK_ID]} did not run again")
    if not sc.worker.alive():
        verdict.problems.append("the worker died with its pool process")
    return verdict


def worker_terminated(sc: Scenario) -> Verdict:
    """The worker's main process gets SIGTERM (warm shutdown) mid-run; a new one starts."""
    sc.sampler.start()
    _start(sc)
    sc.publish()
    sc.wait_mid_run()
    old = sc.worker
    old.process.send_signal(signal.SIGTERM)
    sc.mark("sigterm")
    code = old.process.wait(timeout=120)
    sc.mark("exited")
    verdict_problems = [] if code == 0 else [f"warm shutdown exited with {code}"]
    sc.start_worker()
    verdict = _finish(sc)
    verdict.problems += verdict_problems
    return verdict


def worker_killed(sc: Scenario) -> Verdict:
    """The worker's main process and its pool SIGKILLed mid-run; a new worker starts. The
    killed worker's unacked messages come back after VISIBILITY_TIMEOUT."""
    sc.sampler.start()
    _start(sc)
    sc.publish()
    sc.wait_mid_run()
    if sc.env["VISIBILITY_TIMEOUT"] != REDELIVER_ENV["VISIBILITY_TIMEOUT"]:
        raise AssertionError("worker_killed needs REDELIVER_ENV (a short visibility timeout)")
    sc.worker.kill()
    sc.mark("sigkill")
    sc.start_worker()
    return _finish(sc)


def broker_down_at_start(sc: Scenario, seconds: float = 20) -> Verdict:
    """The worker starts while nothing listens on the broker's port; Redis comes ``seconds``
    later. The worker must wait (not exit), serve ``/health`` (503, the broker named) from its
    first seconds on, then serve the workload."""
    sc.sampler.start()
    sc.start_worker(wait_ready=False)
    down = sc.mark("redis_down")
    # The health server starts at celeryd_init, before the broker connection: only the
    # interpreter's start-up may go unanswered.
    wait_for(lambda: any(p.status is not None and p.started >= down for p in sc.sampler.probes),
             timeout=min(seconds, 15) - 1, message=f"{sc.name}: /health to answer while the "
             "broker is down")
    served = sc.mark("health_served")
    # The outage itself: its length is the scenario; the worker must wait through all of it.
    survived = hold_for(down + seconds - served, sc.worker.alive)
    problems = [] if survived and sc.worker.alive() else [
        f"worker exited while the broker was down: {sc.worker.stderr()[-500:]}"]
    sc.redis.start()
    up = sc.mark("redis_up")
    sc.worker.wait_for_event(schema.Event.WORKER_READY, timeout=120)
    sc.mark("worker_ready")
    sc.publish()
    verdict = _finish(sc)
    verdict.problems += problems
    verdict.problems += sc.health_problems(served, up)
    return verdict


def orphaned_in_unacked(sc: Scenario) -> Verdict:
    """kombu's kill-instant race made deterministic: before any worker exists, one run's
    message and one telemetry batch are left in ``unacked`` as the race leaves them (see
    :meth:`Scenario.orphan`). The chord monitor must name both and put them back (``chords
    orphans --restore``: no chord exists yet); then every run completes as usual."""
    sc.sampler.start()
    sc.redis.start()
    sc.publish()  # no worker yet: everything waits in its queue
    run, batch = sc.published["runs"][0], sc.published["telemetry"][0]
    sc.orphan(run["task_id"], "execution")
    sc.orphan(batch["task_id"], "telemetry")
    sc.start_worker()
    # Nothing will move them but the monitor: ask it once the other runs had time to finish.
    verdict = _finish(sc, settle_s=45)
    restored = {m[schema.TASK_ID] for e in verdict.recovered for m in e.get("restored", [])}
    if restored != {run["task_id"], batch["task_id"]}:
        verdict.problems.append(f"the monitor put back {sorted(restored)}, expected the "
                                f"run {run['task_id']} and the batch {batch['task_id']}")
    return verdict


def member_lost_in_delivery(sc: Scenario) -> Verdict:
    """kombu's other kill-instant window made deterministic: a chord member's message taken
    off its queue (``BRPOP``) by a worker that died before writing ``unacked``: it is in no
    queue, not in ``unacked``, on no worker. The chord monitor must call the chord
    ``members_lost`` and recoverable (the recorder kept the member's message), ``recover``
    must re-publish it under its original task id, and the run must complete once."""
    sc.sampler.start()
    _start(sc)
    sc.publish()
    lost = sc.lose_member()
    verdict = _finish(sc, settle_s=45)
    republished = {m[schema.TASK_ID] for e in verdict.recovered for m in e.get("republished", [])}
    if lost["task_id"] not in republished:
        verdict.problems.append(f"the monitor did not re-publish the lost member {lost}; it "
                                f"re-published {sorted(republished)}")
    return verdict
