"""``analyze -f``: a live report over a followed input (``analyzers.live.LiveReport``).

The library: records older than the window age out, the unparsed sample stays bounded, the
final report equals the one-shot report. The command, as a subprocess fed through a real
pipe a piece at a time: the progress updates while the pipe is open, the final report
equals ``analyze`` on the whole input (at end of input and on Ctrl-C), ``--source kubectl
-f`` runs ``kubectl logs --follow``, and on a terminal (a pty) the report is redrawn live.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analyzers import ingest
from analyzers.live import LiveReport
from analyzers.report import build_report
from instrumentation import schema
from instrumentation.exit_status import ExitStatus
from tests.analyzers.console import HEALTHY, REAL, SCRIPT, SMALL, clean_env, run_script
from tests.support import wait_for

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def line(t: datetime | None, i: int, event: str = "task_succeeded") -> bytes:
    record = {schema.EVENT: event, schema.TASK_ID: f"t-{i}", schema.TASK_NAME: "tasks.add",
              schema.MESSAGE: "done"}
    if t is not None:
        record[schema.TIME] = t.isoformat().replace("+00:00", "Z")
    return json.dumps(record).encode() + b"\n"


class TestLiveReport:
    def test_records_older_than_the_window_age_out(self) -> None:
        live = LiveReport(window=timedelta(hours=1))
        for i in range(100):
            live.feed(line(T0 + timedelta(seconds=i), i))
        live.feed(None)  # the input went quiet: parse what is waiting
        assert len(live.frame()) == 100 and live.aged_out == 0
        for i in range(100, 150):
            live.feed(line(T0 + timedelta(hours=3, seconds=i), i))
        live.feed(None)
        frame = live.frame()
        assert len(frame) == 50 and live.aged_out == 100
        assert frame[schema.TIME].min() >= live.latest - timedelta(hours=1)
        assert live.lines_read == 150  # the counts keep every line read

    def test_bounded_over_many_hours(self) -> None:
        live = LiveReport(window=timedelta(hours=1))
        sizes = []
        for minute in range(10 * 60):  # ten hours, one record a minute
            live.feed(line(T0 + timedelta(minutes=minute), minute))
            if minute % 60 == 59:
                live.feed(None)
                sizes.append(len(live.frame()))
        assert max(sizes) <= 61
        assert live.aged_out >= 9 * 60 - 1

    def test_a_record_without_time_ages_with_the_newest_time_seen(self) -> None:
        live = LiveReport(window=timedelta(hours=1))
        live.feed(line(T0, 1))
        live.feed(line(None, 2))
        live.feed(None)
        assert len(live.frame()) == 2
        live.feed(line(T0 + timedelta(hours=2), 3))
        live.feed(None)
        assert list(live.frame()[schema.TASK_ID]) == ["t-3"]

    def test_the_unparsed_sample_is_bounded_and_the_count_is_not(self) -> None:
        live = LiveReport(window=timedelta(hours=1), max_unparsed=100)
        for i in range(2000):
            live.feed(f"junk {i} \x00\x01\x02\n".encode())
        live.finish()
        assert live.lines_read - live.lines_parsed == 2000
        assert len(live.unparsed()) == 100
        report = live.build_report()
        assert report.to_dict()["unparsed"]["count"] == 2000

    def test_final_report_equals_the_one_shot_report(self) -> None:
        live = LiveReport("stdin", window=timedelta(days=30))
        data = SMALL.read_bytes()
        for piece in data.splitlines(keepends=True):
            live.feed(piece)
        live.finish()
        whole = ingest.read_records([data], source="stdin")
        expected = build_report(whole.frame, lines_read=whole.lines_read,
                                lines_parsed=whole.lines_parsed, unparsed=whole.unparsed)
        assert live.build_report().to_dict() == expected.to_dict()


def nonblank(data: bytes) -> int:
    return sum(1 for x in data.splitlines() if x.strip())


class Follower:
    """``rhesis-logs analyze -f ...`` with a pipe on stdin, its stderr read as it comes."""

    def __init__(self, tmp_path: Path, *args: str, stdout=subprocess.PIPE) -> None:
        self.proc = subprocess.Popen(
            [SCRIPT, "analyze", "-f", "--refresh", "0.2", *args], stdin=subprocess.PIPE,
            stdout=stdout, stderr=subprocess.PIPE, env=clean_env(tmp_path))
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            self.err.append(raw.decode())

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait_lines_read(self, n: int) -> None:
        wait_for(lambda: any(f"live: {n:,} lines read" in x for x in self.err), timeout=30,
                 message=lambda: f"progress with {n} lines read; stderr so far: {self.err}")


def one_shot(tmp_path: Path, data: bytes) -> dict:
    done = run_script(["analyze", "-o", "json"], env=clean_env(tmp_path), input=data)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class TestAnalyzeFollow:
    def test_updates_while_the_pipe_is_open_and_ends_with_the_whole_report(
            self, tmp_path: Path) -> None:
        data = SMALL.read_bytes()
        lines = data.splitlines(keepends=True)
        first, rest = b"".join(lines[:40]), b"".join(lines[40:])
        follower = Follower(tmp_path, "--since", "30d", "-o", "json")
        try:
            follower.send(first)
            follower.wait_lines_read(nonblank(first))
            assert follower.proc.poll() is None  # still following
            follower.send(rest)
            follower.wait_lines_read(nonblank(data))
            follower.proc.stdin.close()
            out = follower.proc.stdout.read()
            assert follower.proc.wait(timeout=60) == ExitStatus.OK
        finally:
            follower.proc.kill()
        assert json.loads(out) == one_shot(tmp_path, data)
        assert not any("Traceback" in x for x in follower.err)

    def test_ctrl_c_prints_the_final_report_with_its_status(self, tmp_path: Path) -> None:
        data = SMALL.read_bytes()
        follower = Follower(tmp_path, "--since", "30d", "-o", "json", "--fail-on", "failures")
        try:
            follower.send(data)
            follower.wait_lines_read(nonblank(data))
            follower.proc.send_signal(signal.SIGINT)
            out = follower.proc.stdout.read()
            code = follower.proc.wait(timeout=60)
        finally:
            follower.proc.kill()
        # The pipe was still open: the text records held back were completed at Ctrl-C.
        assert json.loads(out) == one_shot(tmp_path, data)
        assert code == ExitStatus.FINDINGS  # the report's status: tasks failed
        assert any("interrupted: the final report follows" in x for x in follower.err)
        assert not any("Traceback" in x for x in follower.err)

    def test_the_window_ages_old_records_out(self, tmp_path: Path) -> None:
        # worker_small spans ~62 minutes: a 10 minute window keeps only its last part.
        done = run_script(["analyze", "-f", "--since", "10m", "-o", "json"],
                          env=clean_env(tmp_path), input=SMALL.read_bytes())
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        whole = one_shot(tmp_path, SMALL.read_bytes())
        assert doc["lines"]["read"] == whole["lines"]["read"]
        assert 0 < doc["tasks"]["received"] < whole["tasks"]["received"]
        last = datetime.fromisoformat(whole["window"]["last_seen"].replace("Z", "+00:00"))
        first = datetime.fromisoformat(doc["window"]["first_seen"].replace("Z", "+00:00"))
        assert last - first <= timedelta(minutes=10)

    def test_kubectl_follow(self, tmp_path: Path) -> None:
        argv = tmp_path / "argv.jsonl"
        env = clean_env(tmp_path, FAKE_KUBECTL_CONTEXT="ctx", FAKE_KUBECTL_ARGV=str(argv),
                        FAKE_KUBECTL_REPLAY=str(REAL / "kubectl_prefix.log"))
        # The fake kubectl replays its recording and exits: the end of input.
        done = run_script(["analyze", "-f", "--source", "kubectl", "-l", "app=worker",
                           "--refresh", "0.2", "-o", "json"], env=env)
        assert done.returncode == 0, done.stderr
        logs = next(json.loads(x) for x in argv.read_text().splitlines() if "logs" in x)
        assert "--follow" in logs and "--since=3600s" in logs
        expected = run_script(["analyze", str(REAL / "kubectl_prefix.log"), "-o", "json"],
                              env=env)
        assert json.loads(done.stdout)["tasks"] == json.loads(expected.stdout)["tasks"]

    def test_on_a_terminal_the_report_is_redrawn(self, tmp_path: Path) -> None:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 140, 0, 0))
        screen = bytearray()

        def read() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the other end closed
                    return
                if not chunk:
                    return
                screen.extend(chunk)

        proc = subprocess.Popen(
            [SCRIPT, "analyze", "-f", "--refresh", "0.2", "--since", "30d"],
            stdin=subprocess.PIPE, stdout=slave, stderr=subprocess.PIPE,
            env={**clean_env(tmp_path), "TERM": "xterm-256color"})
        os.close(slave)
        threading.Thread(target=read, daemon=True).start()
        plain = lambda: re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", bytes(screen)).decode(  # noqa: E731
            "utf-8", "replace")
        data = HEALTHY.read_bytes()
        lines = data.splitlines(keepends=True)
        try:
            proc.stdin.write(b"".join(lines[:6]))
            proc.stdin.flush()
            wait_for(lambda: "live: 6 lines read" in plain() and "Tasks:" in plain(),
                     timeout=30, message=lambda: f"the first live frame: {plain()[-2000:]!r}")
            proc.stdin.write(b"".join(lines[6:]))
            proc.stdin.flush()
            wait_for(lambda: f"live: {len(lines)} lines read" in plain(), timeout=30,
                     message=lambda: f"the redrawn frame: {plain()[-2000:]!r}")
            proc.stdin.close()
            assert proc.wait(timeout=60) == ExitStatus.OK
            wait_for(lambda: "rhesis-logs report" in plain().split(
                f"live: {len(lines)} lines read")[-1], timeout=10,
                message="the final report after the live view")
        finally:
            proc.kill()
            os.close(master)
        assert b"Traceback" not in proc.stderr.read()
