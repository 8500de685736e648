"""The chord monitor against a real Redis and real Celery workers running a tiny app of our own
(``tests.support.apps.chords``), driven through the real CLI (``python -m
worker.chord_monitor``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from instrumentation import instrument, schema, tenant_context, uninstrument
from instrumentation.events import add_observer, remove_observer
from tests.support import REPO, wait_for
from tests.worker.chord_monitor.conftest import ChordLab, CliResult, close_lab, make_lab
from worker.chord_monitor import Monitor, actions

pytestmark = pytest.mark.slow


@contextmanager
def observed() -> Iterator[list[tuple[str, dict]]]:
    """Every event log_event emits meanwhile, as (event, fields)."""
    events: list[tuple[str, dict]] = []

    def observer(event: str, fields) -> None:
        if event in schema.CHORD_MONITOR_EVENTS:
            events.append((event, dict(fields)))

    add_observer(observer)
    try:
        yield events
    finally:
        remove_observer(observer)


class TestHealthyAndClean:
    def test_progressing_chord_is_healthy_and_clean_spares_it(self, lab: ChordLab):
        """A running chord is in progress; clean removes only the stuck one beside it."""
        lab.start_worker(pool="prefork", concurrency=2)
        healthy = lab.chord(3, tag="healthy", gate="h")
        lab.wait_started("h")
        stuck = lab.chord(2, tag="stuck", gate="x")
        stuck_gid = stuck.parent.id
        lab.redis.delete(lab.key(stuck_gid, ".s"))  # the silent case, before any member ran

        status = lab.cli("status", "--max-hours", "0", "--json")
        doc = status.json()
        assert status.code == 1, status.stderr
        assert doc["chords"] == {"in_progress": 1, "stuck": 1}, status.stdout
        assert [c[schema.CHORD_ID] for c in doc["stuck"]] == [stuck_gid]
        assert len(doc["workers"]) == 1

        healthy_keys = {k: lab.redis.get(k) for k in (lab.key(healthy.parent.id, ".s"),)}
        assert all(healthy_keys.values())
        # The library, with an observer on the events.
        with Monitor(lab.backend_url, lab.broker_url, timeout=0.5) as monitor, \
                observed() as events:
            plan = actions.clean(monitor, monitor.survey(), dry_run=True)
        assert {o.chord_id: o.done for o in plan} == {stuck_gid: False,
                                                       healthy.parent.id: False}
        assert "would delete" in next(o.detail for o in plan if o.chord_id == stuck_gid)
        assert [(e, f[schema.CHORD_ID], f[schema.DRY_RUN]) for e, f in events] == [
            (schema.Event.CHORD_CLEANED, stuck_gid, True)]
        cleaned = lab.cli("clean", "--max-hours", "0", "--force", "--json")
        assert cleaned.code == 0, cleaned.stdout + cleaned.stderr
        outcomes = cleaned.json()["outcomes"]
        assert [o[schema.CHORD_ID] for o in outcomes] == [stuck_gid]
        assert outcomes[0]["done"] is True
        (event,) = cleaned.events(schema.Event.CHORD_CLEANED)
        assert (event[schema.CHORD_ID], event[schema.SEVERITY], event[schema.DRY_RUN]) == (
            stuck_gid, "NOTICE", False)
        # The progressing chord's keys are untouched, and it completes normally.
        assert {k: lab.redis.get(k) for k in healthy_keys} == healthy_keys
        assert lab.redis.exists(f"rhesis-chord-{healthy.parent.id}")
        lab.open_gate("h")
        lab.open_gate("x")  # (its members would hold the pool until the gate times out)
        assert healthy.get(timeout=30) == 0 + 1 + 4
        # The cleaned chord's late members do not recreate its keys (Celery's done marker).
        wait_for(lambda: all(lab.meta_state(r.id) == "SUCCESS" for r in stuck.parent.results),
                 timeout=30, message="the cleaned chord's members to finish")
        assert not lab.redis.exists(lab.key(stuck_gid, ".j"))
        assert not lab.redis.exists(f"rhesis-chord-{stuck_gid}")
        assert lab.runs("stuck") == []

        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 0, check.stdout
        assert check.json()["stuck"] == []


class TestSilentStuckChord:
    def test_size_key_deleted_while_members_run_then_recover_once(
            self, broker_url: str, backend_url: str, tmp_path):
        """Deleting .s mid-run: check names it (size_key_missing); recover runs it once."""
        lab = make_lab(broker_url, backend_url, tmp_path, prefix="tenantapp")
        try:
            self._scenario(lab)
        finally:
            close_lab(lab)

    def _scenario(self, lab: ChordLab) -> None:
        lab.start_worker()
        result = lab.chord(3, tag="silent", gate="s", organization_id="org-7", user_id="u-3")
        gid = result.parent.id
        lab.wait_started("s")
        assert lab.redis.delete(lab.key(gid, ".s")) == 1
        lab.open_gate("s")
        wait_for(lambda: all(lab.meta_state(r.id) == "SUCCESS" for r in result.parent.results),
                 timeout=30, message="all members to succeed")
        assert lab.meta_state(result.id) is None  # silently never called

        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1, check.stderr
        (found,) = check.json()["stuck"]
        assert found[schema.CHORD_ID] == gid
        assert found[schema.REASON] == "size_key_missing"
        assert (found[schema.MEMBERS_DONE], found[schema.MEMBERS_EXPECTED]) == (3, 3)
        assert found[schema.CHORD_CALLBACK_ID] == result.id
        assert found[schema.CHORD_CALLBACK_NAME] == "chordapp.collect"
        assert (found[schema.ORGANIZATION_ID], found[schema.USER_ID]) == ("org-7", "u-3")
        assert found["key_prefix"] == "tenantapp_"
        assert found["recoverable"] is True
        (event,) = check.events(schema.Event.CHORD_STUCK)
        assert event[schema.CHORD_ID] == gid and event[schema.REASON] == "size_key_missing"
        assert event[schema.SEVERITY] == "ERROR"

        # The text form says the same.
        text = lab.cli("check", "--max-hours", "0")
        assert text.code == 1 and gid in text.stdout and "size_key_missing" in text.stdout
        # Not yet old enough: not listed.
        assert lab.cli("check", "--max-hours", "1").code == 0

        dry = lab.cli("recover", gid, "--dry-run", "--json")
        assert dry.code == 1 and "would run chordapp.collect" in dry.json()["outcomes"][0][
            "detail"]
        with Monitor(lab.backend_url, lab.broker_url, timeout=0.5) as monitor, \
                observed() as events:
            first = actions.recover(monitor, gid)
        assert first.done, first.detail
        (event,) = events
        assert event[0] == schema.Event.CHORD_RECOVERED
        assert (event[1][schema.CHORD_ID], event[1][schema.ACTION], event[1][schema.DRY_RUN]) == (
            gid, "recover", False)
        assert event[1][schema.ORGANIZATION_ID] == "org-7"
        second = lab.cli("recover", gid, "--json")
        assert second.code == 1
        detail = second.json()["outcomes"][0]["detail"]
        # Says when and where, in words: never the marker's raw bytes.
        assert detail.startswith("already recovered at ") and " by " in detail, detail
        assert "b'" not in detail and "{" not in detail
        assert result.get(timeout=30) == 5
        assert lab.runs("silent") == [[0, 1, 4]]  # exactly once, results in header order
        # Celery's own cleanup was done: no chord data left, the done marker set.
        assert not lab.redis.exists(lab.key(gid, ".j"))
        assert lab.redis.get(lab.key(gid, ".c")) == b"done"
        after = lab.cli("check", "--max-hours", "0", "--json")
        assert after.code == 0 and after.json()["stuck"] == []


class TestFailures:
    def test_revoked_member_and_failed_callback(self, lab: ChordLab):
        """A revoked member makes the chord member_revoked; a failing callback callback_failed."""
        lab.start_worker()
        failing = lab.chord(2, tag="cbfail", fail_callback=True)
        with pytest.raises(RuntimeError):
            failing.get(timeout=30, propagate=True)
        revoked = lab.chord(3, tag="rev", gate="r")
        lab.wait_started("r")
        victim = revoked.parent.results[2].id
        lab.app.control.revoke(victim)
        lab.open_gate("r")
        wait_for(lambda: lab.meta_state(revoked.id) == "FAILURE", timeout=30,
                 message="Celery to fail the callback of the chord with a revoked member")

        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1
        reasons = {c[schema.CHORD_ID]: c for c in check.json()["stuck"]}
        assert reasons[failing.parent.id][schema.REASON] == "callback_failed"
        assert reasons[revoked.parent.id][schema.REASON] == "member_revoked"
        assert reasons[revoked.parent.id][schema.MEMBERS_FAILED] == 1
        assert [m[schema.TASK_ID] for m in reasons[revoked.parent.id]["failed"]] == [victim]
        assert set(reasons) == {failing.parent.id, revoked.parent.id}

        inspected = lab.cli("inspect", revoked.parent.id, "--json", "--verbose")
        assert inspected.code == 1
        states = [m[schema.STATE] for m in inspected.json()["members"]]
        assert states == ["SUCCESS", "SUCCESS", "REVOKED"]
        # recover refuses, with the reason.
        refused = lab.cli("recover", revoked.parent.id)
        assert refused.code == 1 and "not recoverable" in refused.stdout

        # fix-chords can revoke nothing here (the callbacks have results): both chords
        # remain stuck (exit 1), and it does not pretend --yes would help.
        for extra in ([], ["--yes"]):
            fix = lab.fix_chords("--report-after", "0", "--revoke-after", "0", *extra)
            assert fix.code == 1, fix.stdout + fix.stderr
            assert "re-run with --yes" not in fix.stdout
            assert "nothing to revoke" in fix.stdout
            assert "2 stuck chord(s) of 2 checked, 0 revoked, 2 remain" in fix.stdout


class TestRevoke:
    def test_dry_run_changes_nothing_then_revoke_and_fix_chords(self, lab: ChordLab):
        """revoke --dry-run leaves Redis as it was; revoke then ends the chord for waiters."""
        lab.start_worker()
        result = lab.chord(3, tag="rv", gate="v")
        gid = result.parent.id
        lab.wait_started("v")
        lab.redis.delete(lab.key(gid, ".s"))
        before = lab.dump_backend()
        queued_before = lab.redis.__class__.from_url(lab.broker_url).llen("celery")

        dry = lab.cli("revoke", "--max-hours", "0", "--dry-run", "--json")
        assert dry.code == 1, dry.stderr
        (plan,) = dry.json()["outcomes"]
        assert plan[schema.DRY_RUN] is True and plan["done"] is False
        pending = [r.id for r in result.parent.results]
        assert set(plan["task_ids"]) == {*pending, result.id}
        assert lab.dump_backend() == before
        assert lab.redis.__class__.from_url(lab.broker_url).llen("celery") == queued_before
        assert all(e[schema.DRY_RUN] is True for e in dry.events(schema.Event.CHORD_REVOKED))

        fix = lab.fix_chords("--report-after", "0", "--revoke-after", "0", "--yes", "--json")
        # Every stuck chord was revoked: nothing remains stuck, so the check passes (0).
        assert fix.code == 0, fix.stdout + fix.stderr
        doc = fix.json()
        assert doc["remaining"] == []
        assert [c[schema.CHORD_ID] for c in doc["stuck"]] == [gid]
        assert doc["outcomes"][0]["done"] is True
        assert "recover" in doc["recommendations"][gid] or "revoke" in doc["recommendations"][gid]
        assert lab.meta_state(result.id) == "REVOKED"
        with pytest.raises(Exception, match="revoked"):
            result.get(timeout=10)
        lab.open_gate("v")
        # The revoked chord is no longer stuck: it is revoked.
        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 0 and check.json()["stuck"] == []
        quiet = lab.fix_chords("--report-after", "0", "--quiet")
        assert (quiet.code, quiet.stdout) == (0, "")


class TestLostMembersAndInterrupt:
    def test_members_lost_when_worker_dies(self, lab: ChordLab):
        """A worker killed mid-member (no acks_late): the member is lost, check says so."""
        # prefork acks a message as its child starts it (solo acks later): once killed, the
        # running member is in no queue, and not in `unacked` either.
        lab.start_worker(pool="prefork")
        result = lab.chord(2, tag="lost", gate="l")
        lab.wait_started("l")
        lab.worker.kill()
        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1, check.stderr
        (found,) = check.json()["stuck"]
        assert found[schema.CHORD_ID] == result.parent.id
        assert found[schema.REASON] == "members_lost"
        assert "1 lost" in found["detail"]  # the other one waits in a queue (or unacked)
        # No worker answers: nothing proves the member is on no worker, so no re-publish.
        assert found["recoverable"] is False
        assert "replies were incomplete" in found["detail"]
        # Without a broker the monitor cannot tell: it does not guess.
        blind = lab.cli("check", "--max-hours", "0", "--json", broker=False)
        assert blind.code == 0 and blind.json()["stuck"] == []

        # A new worker answers: recover re-publishes the lost member (the killed one's
        # prefetched member, orphaned in unacked, goes back to its queue in the same step).
        lab.start_worker(pool="prefork")
        lab.open_gate("l")
        done = lab.cli("--orphan-grace", "0", "recover", result.parent.id)
        assert done.code == 0, done.stdout + done.stderr
        assert "re-published 1 lost member(s)" in done.stdout
        assert result.get(timeout=30) == 0 + 1
        assert lab.runs("lost") == [[0, 1]]

    def test_status_watch_exits_130_on_ctrl_c(self, lab: ChordLab):
        """Ctrl-C (SIGINT) during `status --watch` exits 130."""
        cmd = [sys.executable, "-m", "worker.chord_monitor", "--backend", lab.backend_url,
               "status", "--watch", "0.1"]
        out = lab.tmp_path / "watch.out"
        with out.open("w") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(REPO),
                                    env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            wait_for(lambda: out.read_text().count("OK:") >= 2, timeout=30,
                     message=lambda: f"two status rounds: {out.read_text()}")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class TestUnrecordedApp:
    def test_chord_of_an_app_without_the_recorder(self, broker_url: str, backend_url: str,
                                                  tmp_path):
        """No record: the callback and tenant come from queued members' messages (tenant
        headers from instrumentation); once they ran, the monitor says what it cannot know."""
        lab = make_lab(broker_url, backend_url, tmp_path, recorded=False)
        instrument(lab.app, tracing=False, configure_logging=False)
        try:
            lab.start_worker()
            with tenant_context(organization_id="org-h", user_id="u-h"):
                result = lab.chord(3, tag="unrec", gate="u", gate_from=1)
            gid = result.parent.id
            lab.wait_started("u")
            # Member 0 finished (so .j exists: without a record, a chord with neither .s nor
            # .j has no key at all in the backend); member 1 runs, member 2 is queued.
            lab.redis.delete(lab.key(gid, ".s"))
            assert not lab.redis.exists(f"rhesis-chord-{gid}")

            check = lab.cli("check", "--max-hours", "0", "--json")
            assert check.code == 1, check.stderr
            (found,) = check.json()["stuck"]
            assert found[schema.REASON] == "size_key_missing"
            assert found[schema.CHORD_CALLBACK_ID] == result.id
            assert found[schema.CHORD_CALLBACK_NAME] == "chordapp.collect"
            assert (found[schema.ORGANIZATION_ID], found[schema.USER_ID]) == ("org-h", "u-h")

            lab.open_gate("u")
            wait_for(lambda: all(lab.meta_state(r.id) == "SUCCESS"
                                 for r in result.parent.results),
                     timeout=30, message="all members to succeed")
            after = lab.cli("check", "--max-hours", "0", "--json")
            (found,) = after.json()["stuck"]
            assert found[schema.REASON] == "size_key_missing"
            assert found[schema.CHORD_CALLBACK_ID] is None and found[schema.MEMBERS_DONE] == 3
            refused = lab.cli("recover", gid)
            assert refused.code == 1
            assert "callback is unknown" in refused.stdout
        finally:
            uninstrument()
            close_lab(lab)


class TestLostCallback:
    def test_callback_message_lost_then_recovered(self, lab: ChordLab):
        """Celery published the callback, its message was lost: callback_not_run; recover."""
        worker = lab.start_worker(queues="celery,cbq")
        replies = lab.app.control.cancel_consumer("cbq", destination=[worker.hostname],
                                                  reply=True, timeout=5)
        assert replies, "the worker did not answer cancel_consumer"
        result = lab.chord(2, tag="lostcb", callback_options={"queue": "cbq"})
        gid = result.parent.id
        broker = redis.Redis.from_url(lab.broker_url)
        wait_for(lambda: broker.llen("cbq") == 1, timeout=30,
                 message="the callback to wait in the unconsumed queue")

        waiting = lab.cli("inspect", gid, "--json")
        assert waiting.code == 0, waiting.stdout + waiting.stderr
        doc = waiting.json()
        assert doc[schema.REASON] == "waiting_for_callback"
        assert doc["callback"]["holder"] == "queue:cbq"

        broker.delete("cbq")  # the message is lost
        check = lab.cli("check", "--max-hours", "0", "--json")
        assert check.code == 1
        (found,) = check.json()["stuck"]
        assert (found[schema.CHORD_ID], found[schema.REASON]) == (gid, "callback_not_run")
        assert found["recoverable"] is True

        lab.app.control.add_consumer("cbq", destination=[worker.hostname], reply=True,
                                     timeout=5)
        # Two operators recover at the same moment: exactly one publishes the callback.
        cmd = [sys.executable, "-m", "worker.chord_monitor", "--backend", lab.backend_url,
               "--broker", lab.broker_url, "--timeout", "0.5", "recover", gid]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=str(REPO), env=env) for _ in range(2)]
        outputs = [p.communicate(timeout=60) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 1], outputs
        # The loser either lost the claim ("already recovered") or, if it looked after the
        # winner published, saw the callback waiting in its queue and refused: both are right;
        # what matters is that exactly one callback runs (below).
        loser = next(out + err for (out, err), p in zip(outputs, procs, strict=True)
                     if p.returncode == 1)
        assert "already recovered" in loser or "waiting_for_callback" in loser, outputs
        winner = next(err for (_, err), p in zip(outputs, procs, strict=True)
                      if p.returncode == 0)
        (event,) = CliResult(0, "", winner).events(schema.Event.CHORD_RECOVERED)
        assert (event[schema.CHORD_ID], event[schema.REASON], event[schema.SEVERITY]) == (
            gid, "callback_not_run", "NOTICE")
        assert result.get(timeout=30) == 0 + 1
        assert lab.runs("lostcb") == [[0, 1]]
