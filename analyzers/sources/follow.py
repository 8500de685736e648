"""Lines of a growing input as they arrive: stdin, or one file and what is appended to it.

    from analyzers.sources.follow import follow_lines

    for line in follow_lines(["worker.log"]):   # like ``tail -f``; [] or ["-"] for stdin
        if line is None:
            ...  # the input has been quiet for IDLE_FLUSH_S: complete held-back records
        else:
            ...  # one line, newline included

The iterator ends when stdin closes and never ends on a file (the caller stops it, usually
on Ctrl-C). ``analyzers.ingest.StreamParser`` turns the lines into records.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Iterator

from analyzers.errors import SourceError

#: A follower flushes held-back text records after this long without a new line.
IDLE_FLUSH_S = 1.0
_POLL_S = 0.2


def follow_lines(paths: list[str]) -> Iterator[bytes | None]:
    """Lines of stdin as they arrive, or of one file and then what is appended to it
    (``tail -f``); ``None`` whenever the input has been quiet for ``IDLE_FLUSH_S``."""
    if paths in ([], ["-"]):
        yield from follow_stdin()
        return
    if len(paths) != 1:
        raise SourceError("--follow reads one FILE (or stdin); start one command per file")
    try:
        handle = open(paths[0], "rb")  # noqa: SIM115 - closed below, read until interrupted
    except OSError as exc:
        raise SourceError(f"cannot read {paths[0]}: {exc.strerror}") from None
    with handle:
        pending, quiet_since, flushed = b"", time.monotonic(), True
        while True:
            chunk = handle.readline()
            if chunk:
                pending += chunk
                if pending.endswith(b"\n"):
                    yield pending
                    pending, quiet_since, flushed = b"", time.monotonic(), False
                continue
            if not flushed and time.monotonic() - quiet_since >= IDLE_FLUSH_S:
                yield None
                flushed = True
            time.sleep(_POLL_S)  # why: a regular file has no portable "data appended" event


def follow_stdin() -> Iterator[bytes | None]:
    """Lines of stdin as they arrive; ``None`` whenever it has been quiet for IDLE_FLUSH_S."""
    stream = sys.stdin.buffer
    try:
        fd = stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        fd = None  # not a real file (tests, wrappers): plain line reads, no idle detection
    if fd is None:
        yield from iter(stream.readline, b"")
        return
    import select

    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], IDLE_FLUSH_S)
        if not ready:
            yield None
            continue
        block = os.read(fd, 1 << 16)
        if not block:
            if pending:
                yield pending
            return
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
