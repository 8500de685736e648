"""Lines stay whole when threads and forked processes log to one stream at once (as in a
prefork worker's main process with its helper threads, and its pool children)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.support import REPO

SCRIPT = textwrap.dedent("""
    import logging, os, sys, threading
    from instrumentation import configure_logging, get_logger
    configure_logging(stream=sys.stdout)
    slog = get_logger("t")
    std = logging.getLogger("std")

    def spam(tag):
        for i in range(600):
            slog.info("structlog line", tag=tag, i=i, pad="x" * (i % 300))
            std.warning("stdlib line %s %d %s", tag, i, "y" * (i % 200))

    def run_threads(prefix):
        ts = [threading.Thread(target=spam, args=(f"{prefix}{n}",)) for n in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]

    children = []
    for c in range(2):
        pid = os.fork()
        if pid == 0:
            run_threads(f"child{c}-")
            os._exit(0)
        children.append(pid)
    run_threads("parent-")
    for pid in children:
        os.waitpid(pid, 0)
""")


def test_threads_and_forks_never_splice_lines(tmp_path):
    out = tmp_path / "out.log"
    with out.open("wb") as fh:
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=fh, check=True, cwd=REPO,
                       env={"PYTHONPATH": str(REPO)}, timeout=120)
    lines = out.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # a spliced line fails here
    assert len(records) == 3 * 4 * 600 * 2
    assert {r["message"] for r in records} >= {"structlog line"}
    assert len({r["pid"] for r in records}) == 3
