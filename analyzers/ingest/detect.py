"""Split a byte buffer into lines and tell, cheaply, what kind of input it is.

Everything here works on whole arrays (NumPy over the raw bytes, Arrow for validation), never
line by line in Python, except for the rare block that holds invalid UTF-8::

    lines = split_lines(buf)           # Lines: offsets of every non-blank line, 1-based numbers
    is_json_array(buf)                 # a `gcloud logging read --format=json` document?
    first_bytes(buf, lines)            # the first byte of each line, for routing
    invalid_utf8_mask(buf, lines)      # lines that are not UTF-8 (counted as unparsed)

A line's bytes are ``buf[lines.starts[i]:lines.ends[i]]``; ends exclude ``\\n`` and ``\\r``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# A scan over a few MB at a time stays in cache and does not allocate one bool per input byte.
_SCAN_BLOCK = 1 << 22
# Lines are checked for UTF-8 in groups this big; only a group with a bad line is redone per line.
_UTF8_GROUP = 65536

@dataclass
class Lines:
    """Non-blank lines of a buffer: byte offsets and 1-based line numbers."""

    starts: np.ndarray  # int64
    ends: np.ndarray  # int64, exclusive, without the line terminator
    line_no: np.ndarray  # int64, position in the input (blank lines counted)
    physical: int = 0  # lines in the buffer, blank ones included

    def __len__(self) -> int:
        return len(self.starts)

    def take(self, mask_or_index: np.ndarray) -> Lines:
        return Lines(
            self.starts[mask_or_index], self.ends[mask_or_index], self.line_no[mask_or_index],
            self.physical,
        )


def split_lines(buf: bytes, first_line_no: int = 1) -> Lines:
    """Find every line of ``buf`` (``\\n`` or ``\\r\\n`` terminated, last one optional)."""
    data = np.frombuffer(buf, dtype=np.uint8)
    pieces = [
        np.flatnonzero(data[i : i + _SCAN_BLOCK] == 10) + i
        for i in range(0, len(data), _SCAN_BLOCK)
    ]
    newlines = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int64)
    newlines = newlines.astype(np.int64, copy=False)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    if starts[-1] >= len(data):  # the buffer ends with a newline: no last partial line
        starts, ends = starts[:-1], ends[:-1]
    line_no = np.arange(first_line_no, first_line_no + len(starts), dtype=np.int64)
    if len(starts):
        has_cr = ends > starts
        has_cr[has_cr] = data[ends[has_cr] - 1] == 13
        ends = ends - has_cr
    keep = ends > starts
    return Lines(starts[keep], ends[keep], line_no[keep], len(line_no))


def first_bytes(buf: bytes, lines: Lines) -> np.ndarray:
    """The first byte of every line (lines are never empty)."""
    return np.frombuffer(buf, dtype=np.uint8)[lines.starts]


def is_json_array(buf: bytes) -> bool:
    """True when the buffer is one JSON array of objects (gcloud's ``--format=json``)."""
    head = buf[:4096].lstrip()
    if not head.startswith(b"["):
        return False
    rest = head[1:].lstrip()
    # "[2026-11-28 ..." is a Celery text line, "[pod/..." a kubectl prefix: not arrays.
    return rest[:1] in (b"{", b"]") or (rest == b"" and len(head) < 4096)


def invalid_utf8_mask(buf: bytes, lines: Lines) -> np.ndarray:
    """Lines that are not valid UTF-8: Arrow validates groups, Python only the bad groups."""
    mask = np.zeros(len(lines), dtype=bool)
    if len(lines) == 0:
        return mask
    try:  # the common case, all ASCII/UTF-8: one vectorized check of the whole buffer
        _as_strings(buf, lines.starts[0], lines.ends[-1]).validate(full=True)
        return mask
    except pa.ArrowInvalid:
        pass
    for g in range(0, len(lines), _UTF8_GROUP):
        sl = slice(g, g + _UTF8_GROUP)
        try:
            _as_strings(buf, lines.starts[sl][0], lines.ends[sl][-1]).validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        for i in range(g, min(g + _UTF8_GROUP, len(lines))):
            try:
                buf[lines.starts[i] : lines.ends[i]].decode("utf-8")
            except UnicodeDecodeError:
                mask[i] = True
    return mask


def _as_strings(buf: bytes, start: int, end: int) -> pa.Array:
    """One Arrow string spanning ``buf[start:end]`` (zero copy), for UTF-8 validation."""
    offsets = np.array([start, end], dtype=np.int64)
    return pa.LargeStringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(buf))


_ENTRY_KEYS = (b'"textPayload"', b'"jsonPayload"', b'"protoPayload"', b'"insertId"')


def is_entry_line(line: bytes) -> bool:
    """Whether a JSON line is a Cloud Logging LogEntry (it has a payload or insertId key).

    A source is read either as log lines or as LogEntry objects, decided by its first line:
    exports and API pulls hold nothing but entries, and worker logs never hold one.
    """
    return any(k in line for k in _ENTRY_KEYS)
