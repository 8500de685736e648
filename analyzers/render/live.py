"""Showing a ``LiveReport`` while it fills (``rhesis-logs analyze -f``).

    with LiveView(live, window=timedelta(hours=1), refresh=2.0) as view:
        for line in lines:
            live.feed(line)
            view.tick(lambda: live.build_report())   # redraws at most every ``refresh`` s

On a terminal (stdout a tty) the text report is drawn in place with rich's ``Live``, under a
status line (lines read, records in the window, its time span, records aged out). Otherwise
stdout is left for the final report alone (so ``-o json > file`` holds one document) and
the status line goes to stderr at each refresh: redrawn in place when stderr is a terminal,
one line per refresh when it is a pipe or a file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from analyzers.render import render

if TYPE_CHECKING:
    from analyzers.live import LiveReport


class LiveView:
    """Redraws a ``LiveReport`` every ``refresh`` seconds while input arrives."""

    def __init__(self, live: LiveReport, window: timedelta, refresh: float, *,
                 out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.live, self.window, self.refresh = live, window, refresh
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self._next = 0.0  # draw as soon as there is something
        self._drawn = -1  # lines read at the last redraw
        self._rich: Any = None

    def __enter__(self) -> LiveView:
        if self.out.isatty():
            from rich.console import Console
            from rich.live import Live

            # Cropped at the bottom: the summary on top matters most, and a report taller
            # than the terminal would otherwise scroll on every redraw.
            self._rich = Live(console=Console(file=self.out), auto_refresh=False,
                              transient=True, vertical_overflow="crop")
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self._drawn >= 0 and self.err.isatty():
            self.err.write("\n")  # end the status line redrawn in place

    def status(self) -> str:
        """``live: 1,204 lines read, 980 records in the last 1h (... UTC); 0 aged out``."""
        live = self.live
        span = (f"{live.earliest:%Y-%m-%d %H:%M:%S} .. {live.latest:%H:%M:%S} UTC"
                if live.earliest is not None and live.latest is not None else "no records yet")
        return (f"live: {live.lines_read:,} lines read, {len(live):,} records in the last "
                f"{human_duration(self.window)} ({span}); {live.aged_out:,} aged out")

    def tick(self, report: Callable[[], Any]) -> None:
        """Redraw if ``refresh`` seconds passed and a line was read since the last redraw;
        ``report`` builds the report (only called when a terminal shows it)."""
        now = time.monotonic()
        if now < self._next or self.live.lines_read == self._drawn:
            return
        self._next, self._drawn = now + self.refresh, self.live.lines_read
        if self._rich is None:
            if self.err.isatty():  # `analyze -f > report.json` on a terminal: one line
                self.err.write(f"\r\x1b[2Krhesis-logs: {self.status()}")
            else:
                self.err.write(f"rhesis-logs: {self.status()}\n")
            self.err.flush()
            return
        from rich.text import Text

        body = render(report(), "text", width=self._rich.console.width, color=True)
        self._rich.update(Text.assemble(
            (self.status() + f"; every {self.refresh:g}s, Ctrl-C for the final report\n",
             "bold"), Text.from_ansi(body)), refresh=True)


def human_duration(delta: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``1h30m``."""
    seconds = round(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
