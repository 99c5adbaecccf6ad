"""A live status line while pytest waits for model answers.

It is drawn only from the main thread, while the engine blocks on an answer (the moment
nothing else writes to the terminal), appended to pytest's current output line with the
cursor saved and restored, and erased before the wait returns. So pytest's own output,
and the summary, are never interleaved with it. Redraws are throttled (4 Hz by default).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from pytest_visionevals.batch import BatchView

_SAVE, _RESTORE, _ERASE = "\x1b7", "\x1b8", "\x1b[K"
_MIN_ROOM = 24  # columns; below that the line is not drawn at all


@dataclass(frozen=True)
class Stats:
    done: int = 0  # calls finished (answered, replayed, failed)
    in_flight: int = 0
    queued: int = 0  # prefetched, waiting for a free worker
    retried: int = 0  # answers that needed more than one attempt
    replayed: int = 0
    errors: int = 0
    skipped: int = 0
    spent_usd: float = 0.0  # non-replayed cost in this process
    unpriced: int = 0  # answered calls whose cost is unknown


def combine_stats(parts: Iterable[Stats]) -> Stats:
    """The sum of several processes' stats (xdist workers)."""
    total = Stats()
    for p in parts:
        total = Stats(
            **{
                f.name: getattr(total, f.name) + getattr(p, f.name)
                for f in dataclasses.fields(Stats)
            }
        )
    return total


def format_stats(stats: Stats) -> str:
    parts = [f"{stats.done} done", f"{stats.in_flight} in flight"]
    if stats.queued:
        parts.append(f"{stats.queued} queued")
    if stats.retried:
        parts.append(f"{stats.retried} retried")
    if stats.replayed:
        parts.append(f"{stats.replayed} replayed")
    if stats.errors:
        parts.append(f"{stats.errors} errors")
    if stats.skipped:
        parts.append(f"{stats.skipped} skipped")
    spent = f"${stats.spent_usd:.4f} spent"
    if stats.unpriced:
        spent += f" (+{stats.unpriced} unpriced)"
    parts.append(spent)
    return "[vision calls: " + " | ".join(parts) + "]"


def format_batches(views: Sequence[BatchView], elapsed_s: float) -> str:
    """The batch step's line: each batch's state and request counts, and the time waited."""
    parts = []
    for v in views:
        counts = f"{v.total} requests"
        if v.completed is not None:
            counts = f"{v.completed}/{v.total} done"
            if v.failed:
                counts += f", {v.failed} failed"
        parts.append(f"{v.model} {v.id} {v.state} {counts}")
    if not parts:
        parts.append("waiting for another process's batches")
    minutes, seconds = divmod(int(elapsed_s), 60)
    # Batch ids and states come from the server: shown as text, never as escapes.
    return printable("[vision batches: " + " | ".join(parts) + f" | {minutes}m{seconds:02d}s]")


class StatusLine:
    """Draws ``format_stats`` after the cursor; ``clear`` erases it.

    ``write`` writes raw text to the terminal (no line tracking), ``room`` returns the
    columns left on the current line.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        room: Callable[[], int],
        *,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._room = room
        self.interval_s = interval_s
        self._clock = clock
        self._last = -1e9
        self._visible = False

    def show(self, stats: Stats) -> None:
        self.show_text(stats)

    def show_text(self, what: Stats | str) -> None:
        """Draw the call stats, or a line of its own (the batch step's)."""
        now = self._clock()
        if now - self._last < self.interval_s:
            return
        self._last = now
        room = self._room() - 2
        if room < _MIN_ROOM:
            return
        text = what if isinstance(what, str) else format_stats(what)
        if len(text) > room:
            text = text[: room - 1] + "]"
        prefix = _RESTORE + _ERASE if self._visible else _SAVE
        self._write(prefix + " " + text + _RESTORE)
        self._visible = True

    def clear(self) -> None:
        if self._visible:
            self._write(_RESTORE + _ERASE)
            self._visible = False
            self._last = -1e9
