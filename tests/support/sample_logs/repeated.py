"""Benchmark inputs made of real worker output, repeated with fresh ids (``benchmarks/.data``).

    python -m tests.support.sample_logs repeated json 1000000     # -> json_1000000.jsonl
    python -m tests.support.sample_logs repeated kubectl 1000000  # -> kubectl_1000000.log

``json``: the lines our instrumentation really writes: ``examples/worker.jsonl`` (a recorded
run of the reference worker, regenerated whenever the instrumentation changes its lines), read
at generation time and repeated until ``n`` lines. ``kubectl``: Celery's plain text as a
multi-pod ``kubectl logs --prefix --timestamps`` stream: the two-pod recording in
``tests/fixtures/realworld/kubectl_2pod`` plus ``default_prefork`` as a third pod, merged by
time, repeated the same way (banners, tracebacks and all). ``json-wide``: like ``json``, from
``benchmarks/samples/worker_wide_2026-11-28.jsonl``, the same workload's lines as the
instrumentation wrote them before they were made leaner (~976 bytes a line).

Every repetition is a new run of the same workload: each task, trace and span id gets its
first 8 hex digits replaced by the repetition number (ids stay unique, and lines of one task
keep sharing its id), and every timestamp moves by the recording's span plus one second (each
in its own format: RFC 3339 with micro- or nanoseconds, Celery's ``,mmm``). The report over
``k`` repetitions is thus ``k`` copies of the recording's findings, not an artefact of
duplicated ids. Generation is deterministic; files are reused when they already exist and
are newer than their sample (delete ``benchmarks/.data`` to force).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tests.support.sample_logs.entries import kubectl_line

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "benchmarks" / ".data"
JSON_SAMPLE = REPO / "examples" / "worker.jsonl"
#: The same workload as the instrumentation wrote it before its lines were made leaner
#: (trace ids twice, Cloud Logging labels, null fields): ~976 bytes a line, for robustness.
WIDE_SAMPLE = REPO / "benchmarks" / "samples" / "worker_wide_2026-11-28.jsonl"
REALWORLD = REPO / "tests" / "fixtures" / "realworld"
KUBECTL_SAMPLE = REALWORLD / "kubectl_2pod" / "kubectl.log"
THIRD_POD = REALWORLD / "default_prefork" / "worker.log"
THIRD_POD_NAME = "rhesis-worker-6f7d9c-m4r7t"

#: A uuid, a 32-hex trace id or a 16-hex span id: the first 8 hex digits are replaced.
_ID = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{8}(?=(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                 r"[0-9a-f]{12}|[0-9a-f]{24}|[0-9a-f]{8})(?![0-9A-Za-z]))")
#: A timestamp: date, T or space, time, optional fraction (``.`` or Celery's ``,``).
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})([T ])(\d{2}:\d{2}:\d{2})(?:([.,])(\d+))?")
#: Repetitions formatted at a time (bounds the generator's memory).
_REPS_AT_ONCE = 256


class _Template:
    """A sample as one ``%`` format string with a placeholder per id prefix and timestamp."""

    def __init__(self, text: str) -> None:
        self.lines = text.count("\n")
        pieces: list[str] = []
        self.slots: list[tuple[str, int]] = []  # ("id", 0) or ("stamp", index into stamps)
        stamps: list[np.datetime64] = []
        self.formats: list[tuple[str, str, int, str]] = []  # sep, frac sep, digits, extra
        events = sorted([(m.start(), m.end(), "id", m) for m in _ID.finditer(text)]
                        + [(m.start(), m.end(), "stamp", m) for m in _STAMP.finditer(text)],
                        key=lambda e: e[0])
        pos = 0
        for start, end, kind, m in events:
            if start < pos:
                continue  # an id inside a stamp or the like: leave it
            pieces.append(text[pos:start].replace("%", "%%"))
            pieces.append("%s")
            if kind == "id":
                self.slots.append(("id", 0))
            else:
                date, sep, clock, fsep, frac = m.groups()
                frac = frac or ""
                us = (frac + "000000")[:6]
                stamps.append(np.datetime64(f"{date}T{clock}.{us}", "us"))
                self.formats.append((sep, fsep or "", len(frac), frac[6:]))
                self.slots.append(("stamp", len(stamps) - 1))
            pos = end
        pieces.append(text[pos:].replace("%", "%%"))
        self.format = "".join(pieces)
        self.stamps = np.array(stamps, dtype="datetime64[us]")
        span = (self.stamps.max() - self.stamps.min()) if len(stamps) else np.timedelta64(0)
        self.step = (span // np.timedelta64(1, "s") + 1) * np.timedelta64(1, "s")

    def repeat(self, reps: range) -> str:
        """The sample's text for repetitions ``reps`` (ids and times of each made fresh)."""
        out: list[str] = []
        offsets = np.arange(reps.start, reps.stop, dtype=np.int64) * self.step
        texts = np.datetime_as_string(self.stamps[None, :] + offsets[:, None], unit="us")
        for r, k in enumerate(reps):
            stamps = [self._stamp(str(t), i) for i, t in enumerate(texts[r])]
            prefix = f"{k:08x}"
            out.append(self.format % tuple(prefix if kind == "id" else stamps[i]
                                           for kind, i in self.slots))
        return "".join(out)

    def _stamp(self, iso: str, i: int) -> str:
        sep, fsep, digits, extra = self.formats[i]
        text = iso[:10] + sep + iso[11:19]
        if digits:
            text += fsep + (iso[20:26] + extra)[:digits]
        return text


def _kubectl_sample() -> str:
    """The two-pod recording with ``default_prefork`` as a third pod, merged by time."""
    keyed: list[tuple[str, int, str]] = []
    for n, line in enumerate(KUBECTL_SAMPLE.read_text().splitlines()):
        keyed.append((line[len(line.split("] ", 1)[0]) + 2 :][:30], n, line))
    stamp = "2026-12-02T07:54:20.000000000Z"
    header = re.compile(r"^\[(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}),(\d{3}):")
    for n, line in enumerate(THIRD_POD.read_text().splitlines()):
        m = header.match(line)
        if m:  # kubectl stamps a line when it is written: a header's own time, in ns
            stamp = f"{m[1]}T{m[2]}.{m[3]}{n % 1000:03d}000Z"
        keyed.append((stamp, len(keyed), kubectl_line(THIRD_POD_NAME, stamp, line)))
    keyed.sort()
    return "".join(line + "\n" for _, _, line in keyed)


def write(kind: str, n: int, path: Path) -> Path:
    """About ``n`` lines (whole repetitions of the sample, the last one cut) into ``path``."""
    text = (JSON_SAMPLE.read_text() if kind == "json" else WIDE_SAMPLE.read_text()
            if kind == "json-wide" else _kubectl_sample())
    template = _Template(text if text.endswith("\n") else text + "\n")
    written = 0
    with path.open("w") as out:
        for first in range(0, n // template.lines + 1, _REPS_AT_ONCE):
            chunk = template.repeat(range(first, first + _REPS_AT_ONCE))
            if written + template.lines * _REPS_AT_ONCE > n:
                chunk = "".join(chunk.splitlines(keepends=True)[: n - written])
            out.write(chunk)
            written += chunk.count("\n")
            if written >= n:
                break
    return path


def dataset(kind: str, n: int) -> Path:
    """The path of a generated data set, generating it first if needed."""
    DATA.mkdir(exist_ok=True)
    suffix = "log" if kind == "kubectl" else "jsonl"
    path = DATA / f"{kind}_{n}.{suffix}"
    samples = {"json": [JSON_SAMPLE], "json-wide": [WIDE_SAMPLE]}.get(
        kind, [KUBECTL_SAMPLE, THIRD_POD])
    if not path.exists() or any(p.stat().st_mtime > path.stat().st_mtime for p in samples):
        tmp = path.with_suffix(".tmp")
        write(kind, n, tmp)
        tmp.rename(path)
    return path
