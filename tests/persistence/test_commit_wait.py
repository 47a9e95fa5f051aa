"""A commit that finds the state file busy waits off the event loop.

While another commit holds the file (a big one, or a snapshot load's), a write's answer waits
for its own commit in a worker thread; reads on the same loop go on being
answered meanwhile, and the write still answers only once it is durable.
"""

from __future__ import annotations

import asyncio
import threading

import httpx

from mockksef import create_app
from tests.persistence.support import new_state


def test_a_write_waits_for_a_busy_file_without_stopping_reads(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    state = new_state(tmp_path, spec)
    app = create_app(state=state)
    persister = state.persistence.persister
    held = threading.Event()
    release = threading.Event()

    def hold_the_file() -> None:
        with persister._lock:  # what a snapshot load or a whole write holds
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_file)
    holder.start()
    held.wait(5)
    commits_before = persister.commits

    async def scenario() -> tuple[int, int, bool]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock/v2") as client:
            write = asyncio.create_task(client.post("/auth/challenge"))
            await asyncio.sleep(0.05)
            read = await asyncio.wait_for(client.get("http://mock/_mock/health"), timeout=5)
            # The read was answered while the write still waits for the file.
            waiting = not write.done()
            release.set()
            answer = await asyncio.wait_for(write, timeout=10)
            return read.status_code, answer.status_code, waiting

    try:
        read_status, write_status, waited = asyncio.run(scenario())
    finally:
        release.set()
        holder.join(5)
        state.persistence.close()
    assert read_status == 200
    assert write_status == 200
    assert waited
    assert persister.commits > commits_before
