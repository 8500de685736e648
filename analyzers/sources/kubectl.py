"""``kubectl logs`` as a source: the logs of every pod matching a label selector.

    source = KubectlSource("app=rhesis-worker", namespace="rhesis", since="1h")
    source.command()        # the argv it runs (shown by the CLI with --verbose)
    ingest.read_sources(source)

It runs ``kubectl [--context C] logs -l <selector> [-n NS] --all-containers --prefix
--timestamps [--since=1h] [--previous]`` (``-c NAME`` instead of ``--all-containers`` when a
container is given; ``-f --max-log-requests`` for ``follow=True``) and streams its stdout:
``--prefix`` names the pod and container of every line, which is what lets the ingest stitch
tracebacks per pod, and ``--timestamps`` gives every line a precise UTC time.

kubectl's own failures become ``SourceError`` with a message that says what to do, e.g.
"kubectl has no current context: pass --context or --source file".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from analyzers.errors import SourceError
from analyzers.rfc3339 import RFC3339_SECONDS
from analyzers.sources import SourceChunks

SOURCE_NAME = "kubectl"
_READ = 1 << 20


def go_duration(value: str | timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``"5400s"``; strings such as ``"1h"`` pass as is."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        if seconds <= 0:
            raise SourceError(f"--since must be positive, got {value}")
        return f"{seconds}s"
    return value


class KubectlSource:
    """The logs of the pods matching ``selector``, read through ``kubectl logs``."""

    def __init__(
        self,
        selector: str,
        namespace: str | None = None,
        context: str | None = None,
        since: str | timedelta | datetime | None = None,
        previous: bool = False,
        container: str | None = None,
        *,
        follow: bool = False,
        max_log_requests: int = 20,
        kubectl: str = "kubectl",
    ) -> None:
        if not selector:
            raise SourceError("kubectl needs a label selector, e.g. --selector app=rhesis-worker")
        self.selector = selector
        self.namespace = namespace
        self.context = context
        self.since = since
        self.previous = previous
        self.container = container
        self.follow = follow
        self.max_log_requests = max_log_requests
        self.kubectl = kubectl

    def command(self) -> list[str]:
        """The ``kubectl logs`` argv this source runs."""
        cmd = [self.kubectl]
        if self.context:
            cmd += ["--context", self.context]
        cmd += ["logs", "-l", self.selector]
        if self.namespace:
            cmd += ["--namespace", self.namespace]
        cmd += ["-c", self.container] if self.container else ["--all-containers"]
        cmd += ["--prefix", "--timestamps"]
        if isinstance(self.since, datetime):
            since = self.since if self.since.tzinfo else self.since.replace(tzinfo=UTC)
            cmd.append(f"--since-time={since.astimezone(UTC).strftime(RFC3339_SECONDS)}")
        elif self.since is not None:
            cmd.append(f"--since={go_duration(self.since)}")
        if self.previous:
            cmd.append("--previous")
        if self.follow:
            cmd += ["--follow", f"--max-log-requests={self.max_log_requests}"]
        return cmd

    def __iter__(self) -> Iterator[SourceChunks]:
        yield SOURCE_NAME, self.chunks()

    def check_context(self) -> None:
        """Fail early, and clearly, when kubectl is missing or has no context to talk to."""
        if shutil.which(self.kubectl) is None:
            raise SourceError(f"{self.kubectl} not found on PATH: install kubectl, or use "
                              "--source file or --source cloud-logging")
        if self.context:
            return
        done = subprocess.run([self.kubectl, "config", "current-context"], capture_output=True,
                              text=True, timeout=30, check=False)
        if done.returncode != 0 or not done.stdout.strip():
            raise SourceError("kubectl has no current context: pass --context or --source file")

    def chunks(self) -> Iterator[bytes]:
        """kubectl's stdout in blocks as it arrives; raise ``SourceError`` if kubectl fails."""
        self.check_context()
        # stderr to a file, not a pipe: a chatty kubectl must not block while we read stdout.
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=err,
                                        env=os.environ.copy())
            except OSError as exc:
                raise SourceError(f"cannot run {self.kubectl}: {exc}") from exc
            assert proc.stdout is not None
            got_any = False
            try:
                while block := proc.stdout.read1(_READ):
                    got_any = True
                    yield block
            finally:
                if proc.poll() is None:  # the reader stopped early (or was interrupted)
                    proc.terminate()
                proc.stdout.close()
                code = proc.wait()
            err.seek(0)
            message = err.read().decode("utf-8", "replace").strip()
        if code != 0:
            raise SourceError(self._explain(code, message))
        if not got_any and "No resources found" in message:
            where = f"namespace {self.namespace!r}" if self.namespace else "the current namespace"
            raise SourceError(f"no pods match -l {self.selector} in {where}: check --selector "
                              "and --namespace (kubectl get pods --show-labels)")

    def _explain(self, code: int, message: str) -> str:
        low = message.lower()
        tail = message[-500:]
        if "current-context" in low or "localhost:8080" in low:
            return "kubectl has no current context: pass --context or --source file"
        if "context" in low and "does not exist" in low:
            return (f"kubectl context {self.context!r} does not exist: "
                    "see kubectl config get-contexts")
        if "previous terminated container" in low:
            return f"no previous container to read (--previous): {tail}"
        if "forbidden" in low or "unauthorized" in low:
            return f"kubectl is not allowed to read these logs: {tail}"
        return f"kubectl logs failed (exit {code}): {tail}"
