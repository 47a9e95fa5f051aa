"""mockksef benchmarks (issue 8). Not tests: each script prints figures.

One command runs them all and prints the machine facts with the medians:

    bench/run                   # = python -m bench; --quick, --only 1,3, --json out.json

Sections (each also runnable alone, ``python -m bench.<module> --help``):

1. ``http_throughput`` – req/s, p50, p99 on one uvicorn worker against a bare
   Starlette app of the same shape (wrk, else ``loadgen``'s asyncio client);
2. ``pipeline``        – invoices/s encrypt -> send -> processed -> KSeF number,
   in-process and over a socket, and batch sessions;
3. ``scale``           – 10k/100k/1M seeded invoices: load time, RSS, query
   latency, HWM sync, export;
4. ``startup``         – ``mockksef serve`` to the first answered request;
5. ``suite_speed``     – in-process end-to-end flows per second;
6. ``hostile``         – the heaviest hostile request of each kind (huge JSON
   arrays and bodies, a zip bomb, a big XSD-invalid invoice, a padded XAdES
   document, an export of 10,000 invoices) against ``mockksef serve`` while a
   probe measures ``GET /_mock/health``: p99 under 100 ms (issue 13);
7. ``persistence``     – ``--data DIR`` and snapshots (issue 14): the in-process
   pipeline in memory vs ``--data`` (>= 0.5x), ``serve --data`` on an empty
   directory (< 1 s), a 20,000-invoice snapshot load (< 2 s), a restart with
   1,000,000 invoices to the first answer (< 10 s; ``--restart 100000`` by
   default when run alone), RSS per invoice restored vs in memory.

Narrower studies: ``store_scale.py`` (the invoice store alone),
``seed_scale.py`` (the seeding path), ``ratelimit_overhead.py`` (the limiter).
Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""
