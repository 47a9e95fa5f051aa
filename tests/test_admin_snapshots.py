"""Snapshots over the admin plane (/_mock/snapshots), in-process."""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock, parse_datetime
from mockksef.environments import Env
from mockksef.spec import Spec
from tests import kit
from tests.conftest import START

NIP = "5265877635"


class Served:
    def __init__(self, state: MockState, admin: TestClient, api: TestClient, root: Path) -> None:
        self.state = state
        self.admin = admin
        self.api = api
        self.root = root

    def seed(self, invoices: int = 30, environment: str = "test") -> dict[str, Any]:
        setup = {
            "invoices": [{"count": invoices, "seller": NIP}],
            "tokens": [{"context": NIP, "permissions": ["InvoiceRead"]}],
        }
        answer = self.admin.post("/_mock/seed", json={"environment": environment, "setup": setup})
        assert answer.status_code == 201, answer.text
        seeded: dict[str, Any] = answer.json()["seeded"][environment]
        return seeded

    def files(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.exists() else []


@contextlib.contextmanager
def served(config: MockConfig, spec: Spec, root: Path, **changes: Any) -> Iterator[Served]:
    state = MockState(
        replace(config, snapshot_dir=str(root), **changes), spec=spec, clock=Clock.virtual(START)
    )
    app = create_app(state=state)
    with (
        TestClient(app, base_url="http://testserver") as admin,
        TestClient(app, base_url="http://testserver/v2") as api,
    ):
        yield Served(state, admin, api, root)


@pytest.fixture
def mock_server(config: MockConfig, spec: Spec, tmp_path: Path) -> Iterator[Served]:
    with served(config, spec, tmp_path / "snapshots") as server:
        yield server


def test_save_list_describe(mock_server: Served) -> None:
    mock_server.seed(invoices=30)
    saved = mock_server.admin.post("/_mock/snapshots", json={"name": "before-training"})
    assert saved.status_code == 201, saved.text
    assert saved.headers["location"] == "/_mock/snapshots/before-training"
    body = saved.json()
    assert body["name"] == "before-training"
    assert body["environments"] == ["test", "demo", "prod"]
    assert body["invoices"] == {"test": 30}
    assert body["clock"].startswith("2026-03-02T09:00:00")
    assert mock_server.files() == ["before-training.ksefsnap"]

    listing = mock_server.admin.get("/_mock/snapshots").json()
    assert listing["directory"] == str(mock_server.root)
    assert [s["name"] for s in listing["snapshots"]] == ["before-training"]
    described = mock_server.admin.get("/_mock/snapshots/before-training").json()
    assert described["invoices"] == {"test": 30} and described["size"] > 0

    one = mock_server.admin.post("/_mock/snapshots", json={"name": "t", "environments": ["test"]})
    assert one.status_code == 201 and one.json()["environments"] == ["test"]


def test_reset_then_load_brings_back_invoices_tokens_and_clock(mock_server: Served) -> None:
    seeded = mock_server.seed(invoices=20)
    token = seeded["tokens"][0]["token"]
    number = seeded["invoices"][0]["firstKsefNumber"]
    mock_server.admin.post("/_mock/clock", json={"advance": "2h"})
    saved_at = mock_server.admin.get("/_mock/clock").json()["now"]
    assert mock_server.admin.post("/_mock/snapshots", json={"name": "day1"}).status_code == 201

    mock_server.admin.post("/_mock/reset")
    mock_server.admin.post("/_mock/clock", json={"advance": "3d"})
    assert mock_server.state.summary()["environments"]["test"]["tokens"]["tokens"] == 0
    refused = kit.start_token(mock_server.api, token, NIP)
    assert (
        refused.status_code != 202
        or kit.auth_status(mock_server.api, refused)["status"]["code"] != 200
    )

    loaded = mock_server.admin.post("/_mock/snapshots/day1/load")
    assert loaded.status_code == 200, loaded.text
    assert sorted(loaded.json()["loaded"]) == ["demo", "prod", "test"]
    assert parse_datetime(loaded.json()["clock"]) == parse_datetime(saved_at)
    assert mock_server.admin.get("/_mock/clock").json()["now"] == saved_at
    session = kit.token_login(mock_server.api, token, NIP)
    invoice = mock_server.api.get(f"/invoices/ksef/{number}", headers=session.headers)
    assert invoice.status_code == 200, invoice.text


def test_loading_one_environment_leaves_the_others_and_the_clock(mock_server: Served) -> None:
    mock_server.seed(invoices=5)
    assert mock_server.admin.post("/_mock/snapshots", json={"name": "all"}).status_code == 201
    mock_server.admin.post("/_mock/reset")
    mock_server.seed(invoices=7, environment="demo")
    mock_server.admin.post("/_mock/clock", json={"advance": "1d"})
    now = mock_server.admin.get("/_mock/clock").json()["now"]
    loaded = mock_server.admin.post(
        "/_mock/snapshots/all/load", json={"environments": ["test"]}
    ).json()
    assert loaded["loaded"] == ["test"] and loaded["scenarios"] is None
    assert parse_datetime(loaded["clock"]) == parse_datetime(now)
    envs = mock_server.state.summary()["environments"]
    assert envs["test"]["tokens"]["tokens"] == 1
    assert envs["demo"]["tokens"]["tokens"] == 1  # DEMO's own, not the snapshot's (none)
    assert len(mock_server.state.env("demo").invoices.invoices.rows_table()) == 7


def test_a_snapshot_of_environments_not_served_here_loads_nothing(
    mock_server: Served, config: MockConfig, spec: Spec
) -> None:
    mock_server.admin.post("/_mock/snapshots", json={"name": "t", "environments": ["test"]})
    with served(
        config, spec, mock_server.root, environments=(Env.DEMO,), default_env=Env.DEMO
    ) as demo_only:
        demo_only.seed(invoices=3, environment="demo")
        answer = demo_only.admin.post("/_mock/snapshots/t/load")
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == (
            "snapshot t holds none of the environments served here (demo); nothing was loaded"
        )
        assert len(demo_only.state.env("demo").invoices.invoices.rows_table()) == 3
        named = demo_only.admin.post("/_mock/snapshots/t/load", json={"environments": ["test"]})
        assert named.status_code == 400 and "not enabled" in named.json()["error"]


def test_exists_unknown_and_bad_requests(mock_server: Served) -> None:
    admin = mock_server.admin
    assert admin.post("/_mock/snapshots", json={"name": "a"}).status_code == 201
    again = admin.post("/_mock/snapshots", json={"name": "a"})
    assert again.status_code == 409 and "exists" in again.json()["error"]
    assert admin.post("/_mock/snapshots", json={"name": "a", "overwrite": True}).status_code == 201

    for path in ("/_mock/snapshots/nope", "/_mock/snapshots/nope/file"):
        missing = admin.get(path)
        assert missing.status_code == 404 and "no snapshot named nope" in missing.json()["error"]
    assert admin.post("/_mock/snapshots/nope/load").status_code == 404
    assert admin.delete("/_mock/snapshots/nope").status_code == 404

    bad: list[Any] = [
        {"name": "../etc/passwd"},
        {"name": "a b"},
        {"name": "x\n"},
        {"name": ""},
        {"name": 5},
        {},
        {"name": "b", "environments": ["mars"]},
        {"name": "b", "environments": "test"},
        {"name": "b", "environments": [1]},
        {"name": "b", "overwrite": "yes"},
        {"name": "b", "colour": "red"},
        ["b"],
    ]
    for body in bad:
        answer = admin.post("/_mock/snapshots", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]
    for raw in (b"{", b'{"name": "b"', b"\xff\xfe", b"[" * 4000, b"[" * 100_000, b"x" * 5000):
        answer = admin.post("/_mock/snapshots", content=raw)
        assert answer.status_code == 400, (raw[:20], answer.text)
    assert admin.post("/_mock/snapshots/a/load", json={"environments": ["mars"]}).status_code == 400
    assert admin.post("/_mock/snapshots/a/load", json={"name": "x"}).status_code == 400
    assert mock_server.files() == ["a.ksefsnap"]

    assert admin.delete("/_mock/snapshots/a").status_code == 204
    assert admin.get("/_mock/snapshots").json()["snapshots"] == []


def test_download_then_upload_round_trip(mock_server: Served) -> None:
    mock_server.seed(invoices=12)
    mock_server.admin.post("/_mock/snapshots", json={"name": "mailed"})
    download = mock_server.admin.get("/_mock/snapshots/mailed/file")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == 'attachment; filename="mailed.ksefsnap"'
    data = download.content
    assert data == (mock_server.root / "mailed.ksefsnap").read_bytes()

    uploaded = mock_server.admin.put("/_mock/snapshots/received/file", content=data)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["name"] == "received" and uploaded.json()["invoices"] == {"test": 12}
    again = mock_server.admin.put("/_mock/snapshots/received/file", content=data)
    assert again.status_code == 409
    again = mock_server.admin.put("/_mock/snapshots/received/file?overwrite=true", content=data)
    assert again.status_code == 201
    assert mock_server.files() == ["mailed.ksefsnap", "received.ksefsnap"]

    mock_server.admin.post("/_mock/reset")
    loaded = mock_server.admin.post("/_mock/snapshots/received/load")
    assert loaded.status_code == 200, loaded.text
    assert len(mock_server.state.env("test").invoices.invoices.rows_table()) == 12


def _snapshot_file(mock_server: Served) -> bytes:
    mock_server.admin.post("/_mock/snapshots", json={"name": "good"})
    return (mock_server.root / "good.ksefsnap").read_bytes()


def _doctored(data: bytes, tmp_path: Path, *statements: str, **params: Any) -> bytes:
    path = tmp_path / "doctored.sqlite3"
    path.write_bytes(data)
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement, params)
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_a_hostile_upload_is_400_and_never_kept(mock_server: Served, tmp_path: Path) -> None:
    good = _snapshot_file(mock_server)
    blank = tmp_path / "other.sqlite3"
    sqlite3.connect(blank).execute("CREATE TABLE t (x)").connection.commit()

    class Boom:
        def __reduce__(self) -> Any:
            import os

            return (os.system, ("echo pwned > /tmp/mockksef-pwned",))

    uploads = {
        "text": b"hello, this is not a snapshot",
        "zeros": b"\0" * 4096,
        "truncated": good[: len(good) // 2],
        "other-sqlite": blank.read_bytes(),
        "a-data-file": _doctored(good, tmp_path, "UPDATE meta SET value='data' WHERE key='kind'"),
        "newer": _doctored(good, tmp_path, "UPDATE meta SET value='99' WHERE key='format'"),
        "no-invoices": _doctored(good, tmp_path, "DROP TABLE invoices"),
        "bad-counts": _doctored(good, tmp_path, "DROP TABLE invoice_chunks"),
    }
    for name, data in uploads.items():
        answer = mock_server.admin.put(f"/_mock/snapshots/{name}/file", content=data)
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"], name
    assert mock_server.admin.put("/_mock/snapshots/empty/file", content=b"").status_code == 400
    assert mock_server.files() == ["good.ksefsnap"]  # nothing kept, no temporary files left

    # A snapshot file that reads, but whose state names a callable: kept (it is a
    # snapshot), refused at load, and the state is left as it was.
    evil = _doctored(
        good,
        tmp_path,
        "UPDATE root SET blob=:blob WHERE key='state'",
        blob=pickle.dumps({"clock": Boom()}),
    )
    assert mock_server.admin.put("/_mock/snapshots/evil/file", content=evil).status_code == 201
    before = mock_server.state.summary()
    answer = mock_server.admin.post("/_mock/snapshots/evil/load")
    assert answer.status_code == 400 and "posix.system" in answer.json()["error"], answer.text
    assert mock_server.state.summary() == before
    assert not Path("/tmp/mockksef-pwned").exists()


def test_uploads_are_bounded_by_their_own_limit_not_the_admin_body_limit(
    config: MockConfig, spec: Spec, tmp_path: Path
) -> None:
    with served(config, spec, tmp_path / "s", max_admin_body_bytes=1000) as server:
        good = _snapshot_file(server)
        assert len(good) > 1000
        # An ordinary admin body over 1000 bytes is refused by the guard...
        assert server.admin.post("/_mock/seed", content=b" " * 2000).status_code == 400
        # ...a snapshot upload streams past it.
        answer = server.admin.put("/_mock/snapshots/big/file", content=good)
        assert answer.status_code == 201, answer.text
    with served(config, spec, tmp_path / "t", max_snapshot_bytes=50_000) as server:
        good = _snapshot_file(server)
        assert len(good) > 50_000
        answer = server.admin.put("/_mock/snapshots/big/file", content=good)
        assert answer.status_code == 413 and "50000 bytes" in answer.json()["error"]
        # Without a Content-Length: cut off as the stream passes the bound.
        chunks = (good[i : i + 8192] for i in range(0, len(good), 8192))
        answer = server.admin.put("/_mock/snapshots/big/file", content=chunks)
        assert answer.status_code == 413
        assert server.files() == ["good.ksefsnap"]


def test_a_loaded_snapshot_is_durable_with_data(
    config: MockConfig, spec: Spec, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with served(config, spec, tmp_path / "unused", data_dir=str(data)) as server:
        server.seed(invoices=9)
        assert server.admin.post("/_mock/snapshots", json={"name": "s"}).status_code == 201
        server.admin.post("/_mock/reset")
        assert server.admin.post("/_mock/snapshots/s/load").status_code == 200
        server.state.persistence.close()
    state = MockState(replace(config, data_dir=str(data)), spec=spec, clock=Clock.virtual(START))
    try:
        assert len(state.env("test").invoices.invoices.rows_table()) == 9
    finally:
        state.persistence.close()


def test_an_unreadable_file_in_the_folder_is_one_listed_error(mock_server: Served) -> None:
    """A file that is not a snapshot, and one whose format names no version, each show as
    an entry with an error; the listing and the others answer (never a 500)."""
    mock_server.seed(invoices=2)
    assert mock_server.admin.post("/_mock/snapshots", json={"name": "good"}).status_code == 201
    assert mock_server.admin.post("/_mock/snapshots", json={"name": "odd"}).status_code == 201
    conn = sqlite3.connect(mock_server.root / "odd.ksefsnap")
    with conn:
        conn.execute("UPDATE meta SET value='x' WHERE key='format'")
    conn.close()
    (mock_server.root / "junk.ksefsnap").write_bytes(b"not sqlite at all")
    listing = mock_server.admin.get("/_mock/snapshots")
    assert listing.status_code == 200, listing.text
    entries = {s["name"]: s for s in listing.json()["snapshots"]}
    assert "error" not in entries["good"] and entries["good"]["invoices"] == {"test": 2}
    assert "format version" in entries["odd"]["error"]
    assert "not a" in entries["junk"]["error"]
    odd = mock_server.admin.get("/_mock/snapshots/odd")
    assert 400 <= odd.status_code < 500 and "format version" in odd.text
