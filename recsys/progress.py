"""What a user sees while a run goes: one line per stage and progress bars on the terminal.

The library code (data preparation, the training loops, the pipeline runner) reports here; the
command line decides where it goes (``set_sink``: the terminal, while the libraries' own output is
sent to a log file). Without a sink, nothing is shown: tests and library callers stay quiet.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_sink: TextIO | None = None


def set_sink(stream: TextIO | None) -> None:
    """Where progress goes from now on (None: nowhere)."""
    global _sink
    _sink = stream


def line(text: str) -> None:
    """One line of progress (a stage started or ended)."""
    if _sink is not None:
        _sink.write(text + "\n")
        _sink.flush()


class Bar:
    """A one-line progress bar ``label [#####.....] n/total  elapsed``, redrawn in place on a
    terminal (at most ~5 times a second); elsewhere only its final line is written."""

    WIDTH = 24

    def __init__(self, label: str, total: int | None, unit: str = ""):
        self.label, self.total, self.unit = label, total, unit
        self.n = 0
        self._start = self._drawn = time.perf_counter()
        self._tty = _sink is not None and getattr(_sink, "isatty", lambda: False)()

    def _text(self) -> str:
        elapsed = f"{time.perf_counter() - self._start:6.1f} s"
        if self.total:
            done = min(self.n / self.total, 1.0)
            bar = "#" * round(done * self.WIDTH) + "." * (self.WIDTH - round(done * self.WIDTH))
            return f"  {self.label:<18} [{bar}] {self.n:,}/{self.total:,} {self.unit} {elapsed}"
        return f"  {self.label:<18} {self.n:,} {self.unit} {elapsed}"

    def update(self, n: int) -> None:
        self.n = n
        now = time.perf_counter()
        if self._tty and now - self._drawn > 0.2:
            self._drawn = now
            _sink.write("\r" + self._text())
            _sink.flush()

    def close(self) -> None:
        if _sink is not None:
            _sink.write(("\r" if self._tty else "") + self._text() + "\n")
            _sink.flush()


def terminal() -> TextIO:
    """The process's stderr as it is now (before any redirection): the default sink."""
    return sys.stderr
