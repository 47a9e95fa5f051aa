"""A snapshot taken on a live server: it leaves the data file's pending changes alone,
and an invoice accepted while it is written never leaves it unloadable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockksef.persistence import persister
from mockksef.persistence.snapshots import Snapshots
from tests import kit
from tests.persistence.support import new_state, opened


def test_a_snapshot_leaves_the_data_files_pending_changes_for_its_commit(
    tmp_path: Path, spec: Any
) -> None:
    with opened(tmp_path / "data", spec) as (client, state):
        kit.xades_login(client, kit.random_nip(41))
        env = state.env("test")
        # A request changed an operation; its commit has not run yet.
        revoked = env.auth.revoke_sessions(state.clock.now())
        assert revoked
        Snapshots(tmp_path / "snapshots").save(state, "midway")
        state.commit()  # that request's commit
    with opened(tmp_path / "data", spec) as (_, restarted):
        assert restarted.env("test").auth.operations[revoked[0]].revoked_at is not None


def test_an_invoice_accepted_while_a_snapshot_is_written_does_not_break_it(
    tmp_path: Path, spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    nip = kit.random_nip(43)
    with opened(tmp_path / "data", spec) as (client, state):
        owner = kit.xades_login(client, nip)
        crypto = kit.Crypto()
        online = kit.open_online(client, owner.headers, crypto)
        kit.send_ok(client, owner.headers, online, crypto, kit.fa3(nip, "A1"))
        write_session = persister.Persister._write_session
        sent: list[str] = []

        def racing(self: Any, env_state: Any, session: Any, mark: Any) -> None:
            # Another client's invoice lands while the snapshot is being written, just
            # before the sessions are: they will name it, so the file must hold it.
            if env_state.env.value == "test" and not sent:
                sent.append("A2")  # first: the send's own commit passes through here too
                kit.send_ok(client, owner.headers, online, crypto, kit.fa3(nip, "A2"))
            write_session(self, env_state, session, mark)

        monkeypatch.setattr(persister.Persister, "_write_session", racing)
        Snapshots(tmp_path / "snapshots").save(state, "busy")
        monkeypatch.undo()
        assert sent
    fresh = new_state(None, spec)
    loaded = Snapshots(tmp_path / "snapshots").load(fresh, "busy")
    assert "test" in loaded["loaded"]
