"""Cut over-long lines while the bytes stream in, so memory never follows the longest line.

    limit = LineLimit(1 << 20)                   # bytes per line, newline not counted
    for chunk in limit.wrap(chunks): ...         # the same bytes, long lines cut to the limit
    limit.truncated                              # how many lines were cut

``analyzers.ingest.read_sources`` puts every source through one of these (``--max-line``,
default ``DEFAULT_MAX_LINE``): a hostile or broken input (a 150 MB line with no newline, a
binary file) then costs at most the limit per line. A cut line keeps its first ``limit``
bytes and is read like any other line: a cut JSON object is invalid JSON and is counted as
unparsed, a cut text line keeps its start as the message. The count shows in the report as
``lines.truncated``.

Cheap when nothing is long: a chunk is passed through untouched when every stretch of
``limit / 2`` bytes in it holds a newline (a few ``bytes.find`` calls per chunk, C speed); a
line longer than the limit must contain such a stretch without one. Only a chunk that fails
that test is cut, line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

#: Default ``--max-line``: far above any real log line (a traceback is a few KB per line).
DEFAULT_MAX_LINE = 1 << 20


class LineLimit:
    """Counts and cuts lines longer than ``limit`` bytes in a stream of chunks."""

    def __init__(self, limit: int = DEFAULT_MAX_LINE) -> None:
        if limit < 2:
            raise ValueError("the line limit must be at least 2 bytes")
        self.limit = limit
        self.truncated = 0
        self._run = 0  # bytes of the current line passed on so far
        self._cutting = False  # the current line was cut: drop bytes until its newline

    def wrap(self, chunks: Iterable[bytes | str] | bytes | str) -> Iterator[bytes]:
        """The chunks, with every line longer than the limit cut to its first ``limit`` bytes."""
        if isinstance(chunks, (bytes, bytearray, memoryview, str)):
            chunks = [chunks]  # one buffer given whole
        for chunk in chunks:
            if isinstance(chunk, str):
                data = chunk.encode("utf-8", "surrogateescape")
            else:
                data = bytes(chunk) if isinstance(chunk, memoryview) else chunk
            if not data:
                continue
            if self._clean(data):
                last = data.rfind(b"\n")
                self._run = self._run + len(data) if last < 0 else len(data) - last - 1
                yield data
                continue
            out = self._cut(data)
            if out:
                yield out

    def _clean(self, data: bytes) -> bool:
        """True if no line reaches past the limit in ``data`` (conservative: False may be)."""
        if self._cutting:
            return False
        first = data.find(b"\n")
        if self._run + (len(data) if first < 0 else first) > self.limit:
            return False
        if first < 0:
            return True
        half = self.limit // 2
        return all(data.find(b"\n", i, i + half) >= 0
                   for i in range(first + 1, len(data) - half + 1, half))

    def _cut(self, data: bytes) -> bytes:
        """``data`` with the bytes past the limit of each line dropped (exact, line by line)."""
        pieces: list[bytes] = []
        pos = 0
        n = len(data)
        while pos < n:
            nl = data.find(b"\n", pos)
            end = n if nl < 0 else nl
            if self._cutting:
                pass  # the rest of a line already cut
            else:
                room = self.limit - self._run
                if end - pos > room:
                    pieces.append(data[pos : pos + room])
                    self._run = self.limit
                    self._cutting = True
                    self.truncated += 1
                else:
                    pieces.append(data[pos:end])
                    self._run += end - pos
            if nl < 0:
                break
            pieces.append(b"\n")
            self._run, self._cutting = 0, False
            pos = nl + 1
        return b"".join(pieces)
