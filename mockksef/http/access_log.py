"""uvicorn's access log, the same lines at a fraction of the cost: formatted directly, written in batches.

uvicorn logs every answer through ``logging`` (a ``LogRecord``, two record
copies in ``AccessFormatter``, an ``HTTPStatus`` lookup, a ``write`` and a
``flush`` per request): about 70 µs of CPU per request on the bench machine,
more than the mock's whole pipeline for a cheap operation. ``BufferedAccessLog``
stands in for the ``uvicorn.access`` logger inside the server's protocol when
that logger is uvicorn's default one (one stream handler with uvicorn's
``AccessFormatter`` and format): it renders the identical line (colours when the
formatter uses them) and writes the lines gathered in ``FLUSH_SECONDS`` with one
``write``. A custom ``--log-config`` keeps uvicorn's logger untouched.
"""

from __future__ import annotations

import asyncio
import atexit
import http
import logging
import threading
import weakref
from typing import IO, Any

__all__ = ["FLUSH_SECONDS", "BufferedAccessLog", "for_logger"]

FLUSH_SECONDS = 0.05
# Lines kept before a write regardless of the timer.
MAX_LINES = 512
# The message uvicorn's request cycle logs (its arguments: client, method, path, version, status).
_MESSAGE = '%s - "%s %s HTTP/%s" %d'
_STATUS_COLOURS = {1: "97", 2: "32", 3: "33", 4: "31", 5: "91"}  # uvicorn's AccessFormatter


def _status_text(status: int, colours: bool) -> str:
    try:
        text = f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        text = f"{status} "
    colour = _STATUS_COLOURS.get(status // 100)
    return f"\x1b[{colour}m{text}\x1b[0m" if colours and colour else text


class BufferedAccessLog:
    """The ``info`` call uvicorn's request cycle makes, rendered as uvicorn renders it."""

    def __init__(self, stream: IO[str], colours: bool) -> None:
        self.stream = stream
        self.colours = colours
        # uvicorn's levelprefix: the level name, a colon, padding to 8 characters.
        self.prefix = ("\x1b[32mINFO\x1b[0m" if colours else "INFO") + ":    "
        self._status: dict[int, str] = {}
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._timer: asyncio.TimerHandle | None = None
        _live.add(self)

    def render(self, client: str, method: str, path: str, version: str, status: int) -> str:
        text = self._status.get(status)
        if text is None:
            text = self._status[status] = _status_text(status, self.colours)
        request_line = f"{method} {path} HTTP/{version}"
        if self.colours:
            request_line = f"\x1b[1m{request_line}\x1b[0m"
        return f'{self.prefix} {client} - "{request_line}" {text}\n'

    def info(self, msg: str, *args: Any) -> None:
        # uvicorn: _MESSAGE % (client, method, path, version, status)
        self._lines.append(self.render(*args))
        if len(self._lines) >= MAX_LINES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            lines, self._lines = self._lines, []
            if not lines:
                return
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stream loses the log only
                pass


_live: weakref.WeakSet[BufferedAccessLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for log in list(_live):
        log.flush()


def for_logger(logger: logging.Logger) -> BufferedAccessLog | None:
    """A buffered stand-in for uvicorn's default access logger, else None (leave it be)."""
    from uvicorn.logging import AccessFormatter

    if not logger.isEnabledFor(logging.INFO) or logger.propagate or len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    formatter = handler.formatter
    if (
        type(handler) is not logging.StreamHandler
        or type(formatter) is not AccessFormatter
        or handler.filters
        or logger.filters
        or handler.level > logging.INFO
    ):
        return None
    log = BufferedAccessLog(handler.stream, bool(formatter.use_colors))
    # uvicorn's own format, or a user's: a probe line must come out the same.
    probe = ("127.0.0.1:1", "GET", "/probe?x=1", "1.1", 200)
    record = logging.LogRecord(logger.name, logging.INFO, "", 0, _MESSAGE, probe, None)
    if formatter.format(record) + "\n" != log.render(*probe):
        _live.discard(log)
        return None
    return log
