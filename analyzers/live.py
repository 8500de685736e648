"""A report over a stream that never ends: ``rhesis-logs analyze -f``.

    from analyzers.live import LiveReport

    live = LiveReport(source="stdin", window=timedelta(hours=1))
    for line in follow_lines([]):            # analyzers.sources.follow
        live.feed(line)                      # a line, or None when the input went quiet
        if time_to_redraw:
            report = live.build_report()     # any build_report keyword: tenant=, now=, ...
    live.finish()                            # end of input: complete held-back records
    final = live.build_report()

Lines go through ``analyzers.ingest.StreamParser`` (the same columnar readers as a whole
file), so the final report over an input shorter than the window is the report ``analyze``
gives on the whole input.

Memory stays bounded however long it runs: only records within ``window`` of the newest
record time seen are kept (the stream's own clock, so a replayed old log ages the same way
as a live one); a record without a time ages with the newest time seen when it arrived.
Of the lines that could not be read, the counts are kept and only the last
``max_unparsed`` lines themselves (the report shows a sample of them).
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from analyzers.frame import (
    ARROW_SCHEMA,
    UNPARSED_ARROW_SCHEMA,
    UNPARSED_COLUMNS,
    empty_frame,
    from_arrow,
)
from analyzers.ingest import StreamParser
from analyzers.report import Report, build_report
from instrumentation import schema

#: Records parsed since the last compaction that trigger one even before a report is asked
#: for (a busy stream between two redraws must not grow without bound either).
COMPACT_EVERY = 50_000


class LiveReport:
    """Records of a followed stream within a sliding time window, reportable at any time."""

    def __init__(self, source: str = "stdin", window: timedelta | None = timedelta(hours=1),
                 *, max_unparsed: int = 1000) -> None:
        self.parser = StreamParser(source)
        self.window = pd.Timedelta(window) if window is not None else None
        self.latest: pd.Timestamp | None = None  # newest record time seen
        self.earliest: pd.Timestamp | None = None  # oldest record time still kept
        self.aged_out = 0  # records dropped for being older than the window
        self._frame = empty_frame()
        self._age = pd.Series([], dtype="datetime64[us, UTC]")  # per row: time it ages by
        self._pending: list[dict[str, Any]] = []
        self._pending_age: list[pd.Timestamp | None] = []
        self._unparsed: deque[dict[str, Any]] = deque(maxlen=max_unparsed)

    # --- input ---------------------------------------------------------------------------

    def feed(self, line: bytes | str | None) -> int:
        """One line (``None``: the input went quiet); return the records it completed."""
        records = self.parser.flush() if line is None else self.parser.feed(line)
        return self._take(records)

    def finish(self) -> int:
        """The input ended: complete every record held back for its traceback."""
        return self._take(self.parser.flush())

    def _take(self, records: list[dict[str, Any]]) -> int:
        if self.parser.unparsed:  # keep a bounded sample; the parser only appends
            self._unparsed.extend(self.parser.unparsed)
            self.parser.unparsed.clear()
        for record in records:
            t = record.get(schema.TIME)
            if t is not None:
                t = pd.Timestamp(t)
                if self.latest is None or t > self.latest:
                    self.latest = t
            self._pending.append(record)
            self._pending_age.append(t if t is not None else self.latest)
        if len(self._pending) >= COMPACT_EVERY:
            self._compact()
        return len(records)

    # --- state ---------------------------------------------------------------------------

    @property
    def lines_read(self) -> int:
        return self.parser.lines_read

    @property
    def lines_parsed(self) -> int:
        return self.parser.lines_parsed

    def __len__(self) -> int:
        """Records kept (within the window) plus those not compacted yet."""
        return len(self._frame) + len(self._pending)

    def frame(self) -> pd.DataFrame:
        """The normalized frame of the records within the window (``analyzers.frame``)."""
        self._compact()
        return self._frame

    def unparsed(self) -> pd.DataFrame:
        """The most recent unreadable lines (at most ``max_unparsed``)."""
        table = pa.Table.from_pylist(
            [{c: row.get(c) for c in UNPARSED_COLUMNS} for row in self._unparsed],
            schema=UNPARSED_ARROW_SCHEMA)
        return from_arrow(table, UNPARSED_COLUMNS)

    def build_report(self, **options: Any) -> Report:
        """``analyzers.report.build_report`` over the window's records, with the stream's
        line counts (every line read so far, aged out or not)."""
        return build_report(self.frame(), lines_read=self.lines_read,
                            lines_parsed=self.lines_parsed, unparsed=self.unparsed(), **options)

    def _compact(self) -> None:
        """Move pending records into the frame and drop what is older than the window."""
        frame, age = self._frame, self._age
        if self._pending:
            batch = from_arrow(pa.Table.from_pylist(
                [{c: r.get(c) for c in schema.FRAME_COLUMNS} for r in self._pending],
                schema=ARROW_SCHEMA))
            ages = pd.Series(pd.to_datetime(
                [a if a is not None else pd.NaT for a in self._pending_age], utc=True)
            ).astype("datetime64[us, UTC]")
            self._pending, self._pending_age = [], []
            frame = batch if frame.empty else pd.concat([frame, batch], ignore_index=True)
            age = ages if age.empty else pd.concat([age, ages], ignore_index=True)
        if self.window is not None and self.latest is not None and len(frame):
            cutoff = self.latest - self.window
            # A record with no time yet seen anywhere (age NaT) has nothing to age by: kept
            # until the stream shows a time, then it ages with the first one.
            age = age.fillna(cutoff)
            keep = (age >= cutoff).to_numpy()
            dropped = int(len(keep) - keep.sum())
            if dropped:
                self.aged_out += dropped
                frame = frame.loc[keep].reset_index(drop=True)
                age = age.loc[keep].reset_index(drop=True)
        self._frame, self._age = frame, age
        times = frame[schema.TIME].dropna() if len(frame) else frame[schema.TIME]
        self.earliest = times.min() if len(times) else None
