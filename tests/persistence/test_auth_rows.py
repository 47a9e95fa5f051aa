"""Authentication operations live in rows of their own (format 3).

One operation per login, kept for 7 days: inside the environment pickle they
made every write of a busy shared server slower with each login it had seen.
"""

from __future__ import annotations

import sqlite3

from mockksef.persistence import codec
from tests import kit
from tests.persistence.support import opened


def _sessions(client, session: kit.Session) -> list[str]:  # type: ignore[no-untyped-def]
    answer = client.get("/auth/sessions", headers=session.headers)
    assert answer.status_code == 200, answer.text
    return [item["referenceNumber"] for item in answer.json()["items"]]


def test_logins_are_rows_and_the_environment_pickle_does_not_grow_with_them(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(41)
    with opened(tmp_path, spec) as (client, state):
        first = kit.xades_login(client, nip)
        size_after_one = _env_blob_size(tmp_path)
        logins = [kit.xades_login(client, nip) for _ in range(20)]
        size_after_many = _env_blob_size(tmp_path)
        # 20 more logins are 20 more rows, not 20 more operations in the pickle.
        assert _rows(tmp_path) == 21
        assert size_after_many - size_after_one < 2_000
        listed = _sessions(client, first)
        revoked = logins[3]
        assert client.delete("/auth/sessions/current", headers=revoked.headers).status_code == 204
        before = _refresh(client, revoked)
        assert "(425)" in str(before), before
    with opened(tmp_path, spec) as (client, _state):
        # Same list, same order; the revoked one stays revoked; JWTs still valid.
        assert _sessions(client, first) == [r for r in listed if r != revoked.reference_number]
        assert _refresh(client, revoked) == before


def test_a_format_2_file_with_operations_in_the_pickle_moves_them_to_rows(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(42)
    with opened(tmp_path, spec) as (client, state):
        session = kit.xades_login(client, nip)
        expected = _sessions(client, session)
        env_state = state.env("test")
        # What format 2 wrote: the operations inline in the environment pickle.
        persister = state.persistence.persister
        refer = persister._env_refer(state)  # rebuilding what format 2 wrote

        def inline(obj):  # type: ignore[no-untyped-def]
            found = refer(obj)
            return None if found == ("auth-ops",) else found

        blob = codec.dumps(env_state, inline)
    conn = sqlite3.connect(tmp_path / "state.sqlite3")
    with conn:
        conn.execute("DELETE FROM auth_operations")
        conn.execute("DROP TABLE auth_operations")
        conn.execute("UPDATE envs SET blob=? WHERE env='test'", (blob,))
        conn.execute("UPDATE meta SET value='2' WHERE key='format'")
    conn.close()
    with opened(tmp_path, spec) as (client, state):
        assert _sessions(client, session) == expected
        state.commit()  # the first commit writes the rows the old file lacked
    assert _rows(tmp_path) == len(expected)
    with opened(tmp_path, spec) as (client, _state):
        assert _sessions(client, session) == expected


def _refresh(client, session: kit.Session) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    answer = client.post("/auth/token/refresh", headers=kit.bearer(session.refresh_token))
    details = answer.json()["exception"]["exceptionDetailList"][0]
    return answer.status_code, [details["exceptionCode"], *details["details"]]


def _rows(directory) -> int:  # type: ignore[no-untyped-def]
    return _number(directory, "SELECT COUNT(*) FROM auth_operations")


def _env_blob_size(directory) -> int:  # type: ignore[no-untyped-def]
    return _number(directory, "SELECT LENGTH(blob) FROM envs WHERE env='test'")


def _number(directory, query: str) -> int:  # type: ignore[no-untyped-def]
    """One number read straight from the state file, behind the mock's back."""
    conn = sqlite3.connect(directory / "state.sqlite3")
    try:
        return int(conn.execute(query).fetchone()[0])
    finally:
        conn.close()
