"""Lines of a growing input as they arrive: stdin, or one file and what is appended to it.

    from analyzers.sources.follow import follow_lines

    for line in follow_lines(["worker.log"]):   # like ``tail -f``; [] or ["-"] for stdin
        if line is None:
            ...  # the input has been quiet for IDLE_FLUSH_S: complete held-back records
        else:
            ...  # one line, newline included

    for line in follow_chunks(KubectlSource(..., follow=True).chunks()):
        ...  # any source's chunks (``kubectl logs -f``) as lines, with the same ``None``s

The iterator ends when stdin closes (or the chunks end) and never ends on a file (the
caller stops it, usually on Ctrl-C). Every function takes a ``LineLimit``
(``analyzers.ingest.line_limit``, ``--max-line``): lines longer than it are cut as the bytes
arrive, so a line with no end costs at most the limit, as in a batch read.
``analyzers.ingest.StreamParser`` turns the lines into records (``parse --follow``),
``analyzers.live.LiveReport`` into a report (``analyze -f``).
"""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator

from analyzers.errors import SourceError
from analyzers.ingest.line_limit import LineLimit

#: A follower flushes held-back text records after this long without a new line.
IDLE_FLUSH_S = 1.0
_POLL_S = 0.2
_BLOCK = 1 << 16


def follow_lines(paths: list[str], limit: LineLimit | None = None
                 ) -> Iterator[bytes | None]:
    """Lines of stdin as they arrive, or of one file and then what is appended to it
    (``tail -f``); ``None`` whenever the input has been quiet for ``IDLE_FLUSH_S``."""
    limit = limit or LineLimit()
    if paths in ([], ["-"]):
        yield from follow_stdin(limit)
        return
    if len(paths) != 1:
        raise SourceError("--follow reads one FILE (or stdin); start one command per file")
    try:
        handle = open(paths[0], "rb")  # noqa: SIM115 - closed below, read until interrupted
    except OSError as exc:
        raise SourceError(f"cannot read {paths[0]}: {exc.strerror}") from None
    with handle:
        split, quiet_since, flushed = _Splitter(limit), time.monotonic(), True
        while True:
            block = handle.read(_BLOCK)
            if block:
                lines = split.feed(block)
                yield from lines
                if lines:
                    quiet_since, flushed = time.monotonic(), False
                continue
            if not flushed and time.monotonic() - quiet_since >= IDLE_FLUSH_S:
                yield None
                flushed = True
            time.sleep(_POLL_S)  # why: a regular file has no portable "data appended" event


def follow_stdin(limit: LineLimit | None = None) -> Iterator[bytes | None]:
    """Lines of stdin as they arrive; ``None`` whenever it has been quiet for IDLE_FLUSH_S."""
    limit = limit or LineLimit()
    stream = sys.stdin.buffer
    try:
        fd = stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        fd = None  # not a real file (tests, wrappers): plain line reads, no idle detection
    split = _Splitter(limit)
    if fd is None:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            yield from split.feed(block)
        yield from split.rest()
        return
    import select

    while True:
        ready, _, _ = select.select([fd], [], [], IDLE_FLUSH_S)
        if not ready:
            yield None
            continue
        block = os.read(fd, _BLOCK)
        if not block:
            yield from split.rest()
            return
        yield from split.feed(block)


_END = object()


def follow_chunks(chunks: Iterable[bytes], idle: float = IDLE_FLUSH_S,
                  limit: LineLimit | None = None) -> Iterator[bytes | None]:
    """Lines of ``chunks`` as they arrive; ``None`` whenever none came for ``idle`` seconds.

    The chunks are read on a daemon thread (a source such as ``kubectl logs -f`` blocks in
    its read until the pods log again), so the caller can redraw while the input is quiet.
    An exception the chunks raise (``SourceError``) is raised here, in the caller's thread.
    """
    inbox: queue.Queue = queue.Queue(maxsize=64)  # bounded: a slow reader slows the source

    def pump() -> None:
        try:
            for chunk in chunks:
                inbox.put(chunk)
        except BaseException as exc:  # handed to the reading thread, raised there
            inbox.put(exc)
        inbox.put(_END)

    split = _Splitter(limit or LineLimit())
    threading.Thread(target=pump, name="follow-chunks", daemon=True).start()
    while True:
        try:
            item = inbox.get(timeout=idle)
        except queue.Empty:
            yield None
            continue
        if item is _END:
            yield from split.rest()
            return
        if isinstance(item, BaseException):
            raise item
        yield from split.feed(item)


class _Splitter:
    """Blocks in, whole lines out (newline kept), each cut to the limit as the bytes arrive."""

    def __init__(self, limit: LineLimit) -> None:
        self.limit = limit
        self.pending = b""

    def feed(self, block: bytes) -> list[bytes]:
        self.pending += b"".join(self.limit.wrap(block))
        *lines, self.pending = self.pending.split(b"\n")
        return [line + b"\n" for line in lines]

    def rest(self) -> list[bytes]:
        """The last line, when the input ended without its newline."""
        rest, self.pending = self.pending, b""
        return [rest] if rest else []
