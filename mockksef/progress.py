"""Progress of long jobs (seeding, contract runs): a bar on a terminal, nothing elsewhere.

Work reports what it does with ``counted(items, total)`` and ``step()``;
whoever runs it (the command line) decides whether anyone watches, with
``shown(description)``. Without a bar (a library call, a test, output to a
file or a pipe) reporting costs one global read, and ``counted`` hands the
items back untouched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

# Updates a bar at most this often: a million seeded invoices must not mean a million redraws.
_CHUNK = 1000


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self.progress = progress
        self.task = task
        self.total = 0
        self._lock = threading.Lock()

    def expect(self, count: int) -> None:
        with self._lock:
            self.total += count
            self.progress.update(self.task, total=self.total)

    def step(self, count: int = 1, label: str | None = None) -> None:
        fields = {"description": label} if label else {}
        self.progress.update(self.task, advance=count, **fields)

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        pending = 0
        for item in items:
            yield item
            pending += 1
            if pending == _CHUNK:
                self.step(pending)
                pending = 0
        if pending:
            self.step(pending)


_active: _Bar | None = None


def counted(items: Iterable[T], total: int) -> Iterable[T]:
    """``items``, counted on the bar when one is shown (``total`` of them expected)."""
    bar = _active
    if bar is None:
        return items
    bar.expect(total)
    return bar.iterate(items)


def expect(count: int) -> None:
    if _active is not None:
        _active.expect(count)


def step(count: int = 1, label: str | None = None) -> None:
    """``count`` more done; ``label`` replaces the bar's description (what runs now)."""
    if _active is not None:
        _active.step(count, label)


@contextmanager
def shown(description: str, stream: TextIO | None = None) -> Iterator[None]:
    """A bar on ``stream`` (stderr) while the block runs, when it is a terminal."""
    global _active
    stream = stream if stream is not None else sys.stderr
    if _active is not None or not stream.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        _active = _Bar(progress, progress.add_task(description, total=None))
        try:
            yield
        finally:
            _active = None
