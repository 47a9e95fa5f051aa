"""The buffered access log writes exactly the lines uvicorn's own access logger writes."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from uvicorn.logging import AccessFormatter

from mockksef.http import access_log

ARGS = [
    ("127.0.0.1:5000", "POST", "/v2/auth/challenge", "1.1", 200),
    ("[::1]:6000", "GET", "/v2/invoices/ksef/x?a=1", "1.1", 404),
    ("127.0.0.1:5001", "GET", "/v2/x", "1.1", 599),
]
FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def _uvicorn_lines(colours: bool) -> str:
    formatter = AccessFormatter(fmt=FORMAT, use_colors=colours)
    return "".join(
        formatter.format(
            logging.LogRecord(
                "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', a, None
            )
        )
        + "\n"
        for a in ARGS
    )


@pytest.mark.parametrize("colours", [False, True])
def test_same_lines_as_uvicorn(colours: bool) -> None:
    stream = io.StringIO()
    log = access_log.BufferedAccessLog(stream, colours)

    async def answer() -> None:
        for args in ARGS:
            log.info('%s - "%s %s HTTP/%s" %d', *args)
        assert stream.getvalue() == ""  # written in a batch, not per request
        await asyncio.sleep(access_log.FLUSH_SECONDS * 3)

    asyncio.run(answer())
    assert stream.getvalue() == _uvicorn_lines(colours)


def test_only_uvicorns_default_logger_is_replaced() -> None:
    logger = logging.getLogger("mockksef.tests.access_log")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(AccessFormatter(fmt=FORMAT, use_colors=False))
    logger.addHandler(handler)
    assert isinstance(access_log.for_logger(logger), access_log.BufferedAccessLog)
    logger.setLevel(logging.WARNING)
    assert access_log.for_logger(logger) is None
    logger.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))  # a user's own format
    assert access_log.for_logger(logger) is None
    logger.removeHandler(handler)
