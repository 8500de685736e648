"""Files and stdin: ``open_sources(paths)`` yields ``(name, chunks)`` for each one.

    for name, chunks in open_sources(["worker.log", "old.log.gz", "-"]):
        ...

No path, or ``-``, means standard input. Gzip is recognized by its magic bytes, not by the
name, so ``kubectl logs ... | gzip > x`` and ``x.gz`` both work. Files are read in blocks
of 4 MB (small enough for the allocator to reuse warm pages); a missing, unreadable or
binary file (an image, a core dump, a tarball: ``looks_binary``) raises ``SourceError``
before anything is read from it.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from analyzers.errors import SourceError
from analyzers.sources import SourceChunks

BLOCK = 4 << 20
STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"


def open_sources(paths: Sequence[str | Path] | None = None,
                 stdin: BinaryIO | None = None) -> list[SourceChunks]:
    """``(name, chunks)`` per path; stdin (or ``stdin``) when ``paths`` is empty or ``-``.

    Every path is checked (and opened) first, so a typo in the last of ten files fails
    before the first is read; the chunks themselves are read lazily.
    """
    out: list[SourceChunks] = []
    for p in paths or [STDIN]:
        name = str(p)
        if name == STDIN:
            stream = stdin if stdin is not None else sys.stdin.buffer
            out.append(("stdin", read_stream(stream)))
            continue
        path = Path(p)
        if not path.exists():
            raise SourceError(f"{name}: no such file (give a log file, or '-' for stdin)")
        if path.is_dir():
            raise SourceError(f"{name}: is a directory (give the log files inside it)")
        try:
            handle = path.open("rb")
            head = _head(handle)
        except OSError as exc:
            raise SourceError(f"{name}: cannot open: {exc.strerror or exc}") from exc
        if looks_binary(head):
            handle.close()
            raise SourceError(f"{name}: a binary file, not a log: give the worker's log "
                              "files (text, JSON lines or their .gz)")
        out.append((name, FileChunks(path, handle, name)))
    return out


#: Bytes looked at to tell a binary file from a log, and the share of control bytes in them
#: above which it is binary. A log may hold a stray junk line; a binary file is full of them.
SNIFF_BYTES = 8192
BINARY_SHARE = 0.10
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x1b")  # tabs, newlines, ANSI colour escapes


def looks_binary(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes, gunzipped) is mostly not text."""
    if not head:
        return False
    controls = sum(1 for b in head if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    return controls / len(head) > BINARY_SHARE


def _head(handle: BinaryIO) -> bytes:
    """The first ``SNIFF_BYTES`` of an open file (gunzipped), leaving the handle at 0."""
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    return unzipped_prefix(head) if head[:2] == GZIP_MAGIC else head


def unzipped_prefix(data: bytes) -> bytes:
    """What a truncated gzip prefix decompresses to (the rest of the file is not read)."""
    import zlib

    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    except zlib.error:
        return b""


class FileChunks:
    """The blocks of one open file, read once when iterated; ``path`` lets a reader that can
    do better (``analyzers.ingest.json_file``) read the file itself instead."""

    def __init__(self, path: Path, handle: BinaryIO, name: str) -> None:
        self.path = path
        self._handle = handle
        self._name = name

    def __iter__(self) -> Iterator[bytes]:
        with self._handle:
            yield from read_stream(self._handle, self._name)

    def close(self) -> None:
        """Close the file without reading it (when it was read through ``path``)."""
        self._handle.close()


def read_stream(stream: BinaryIO, name: str = "stdin") -> Iterator[bytes]:
    """Blocks of ``stream``, gunzipped when it starts with the gzip magic bytes."""
    head = stream.read(2)
    if not head:
        return
    if head == GZIP_MAGIC:
        raw = io.BufferedReader(_Prepend(head, stream))
        source: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    else:
        yield head
        source = stream
    try:
        while block := source.read(BLOCK):
            yield block
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip
        raise SourceError(f"{name}: cannot read: {exc}") from exc


class _Prepend(io.RawIOBase):
    """A raw stream that yields ``head`` and then the rest of ``stream`` (stdin is not seekable)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)
