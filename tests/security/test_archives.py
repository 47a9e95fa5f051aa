"""Hostile batch packages: links, zip bombs (issue 13).

Before: a ZIP entry that Unix made a symbolic link was processed as an
invoice (status 450), while TAR links were refused with 430 as the unpacker's
docstring promises; a 2 MB zip bomb was unpacked to 1 GB (the ratio was
judged against the sizes entries declare) on the event loop, ~1.5 s for
every client. Now links of any kind refuse the package (430), a bomb stops
after a few dozen megabytes, in a worker thread.

Path traversal names, too many entries and oversized entries are in
``tests/unit/test_sessions_archive.py``; ``tests/api/test_sessions_batch.py``
covers the package checks (hashes, sizes, keys).
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from typing import Any

import httpx
import pytest

from mockksef.server import ThreadedServer
from mockksef.services.sessions import archive
from tests import kit
from tests.security.hostile import PATIENCE, answers_health

NIP = "5265877635"
NOT_A_FILE = "Wpis 'link.xml' archiwum nie jest zwykłym plikiem."


def _zip_with_link() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as made:
        made.writestr("1.xml", kit.fa3(NIP, "z1"))
        link = zipfile.ZipInfo("link.xml")
        link.create_system = 3  # Unix: the mode sits in the high half of external_attr
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        made.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _targz_with_link(kind: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as made:
        document = kit.fa3(NIP, "t1")
        info = tarfile.TarInfo("1.xml")
        info.size = len(document)
        made.addfile(info, io.BytesIO(document))
        link = tarfile.TarInfo("link.xml")
        link.type = kind
        link.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "1.xml"
        made.addfile(link)
    return buffer.getvalue()


def _zip_bomb(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    zero = bytes(1 << 20)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as made:
        with made.open("1.xml", "w") as entry:
            for _ in range(megabytes):
                entry.write(zero)
    return buffer.getvalue()


def _close(client: Any, headers: dict[str, str], blob: bytes, compression: str) -> dict[str, Any]:
    """Open a batch session for ``blob``, upload it, close it: the session status."""
    crypto = kit.Crypto()
    pkg = kit.Package(blob, [crypto.encrypt(blob)], crypto, compression)
    opened = kit.open_batch(client, headers, pkg)
    kit.upload(client, opened, pkg.parts)
    ref = opened["referenceNumber"]
    closed = client.post(f"/sessions/batch/{ref}/close", headers=headers)
    assert closed.status_code == 204, closed.text
    return kit.session_status(client, headers, ref)


@pytest.mark.parametrize(
    ("compression", "blob"),
    [
        ("Zip", _zip_with_link),
        ("TarGz", lambda: _targz_with_link(tarfile.SYMTYPE)),
        ("TarGz", lambda: _targz_with_link(tarfile.LNKTYPE)),
    ],
    ids=["zip-symlink", "tar-symlink", "tar-hardlink"],
)
def test_links_of_any_kind_refuse_the_package(client, compression, blob):  # type: ignore[no-untyped-def]
    headers = kit.xades_login(client, NIP).headers
    status = _close(client, headers, blob(), compression)
    assert status["status"]["code"] == 430, status
    assert status["status"]["details"] == [NOT_A_FILE]
    # Refused as a whole: its regular file is not processed either.
    assert status.get("invoiceCount") is None


def test_a_zip_from_elsewhere_keeps_its_entries_files(client):  # type: ignore[no-untyped-def]
    """DOS and Windows tools leave the type bits at 0: such entries are invoices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as made:
        entry = zipfile.ZipInfo("1.xml")
        entry.create_system = 0
        entry.external_attr = 0x20  # the DOS archive bit
        made.writestr(entry, kit.fa3(NIP, "d1"))
    headers = kit.xades_login(client, NIP).headers
    assert _close(client, headers, buffer.getvalue(), "Zip")["status"]["code"] == 200


def test_a_zip_bomb_stops_after_a_few_dozen_megabytes(monkeypatch):  # type: ignore[no-untyped-def]
    # 400 MB of zeros in ~400 KB: judged against the 400 KB it declares, 200 MB
    # would be unpacked before the 500:1 ratio trips; against what was read, a third.
    unpacked: list[int] = []
    spend = archive._Budget.spend

    def recording(budget: Any, n: int, packed: int | None = None) -> None:
        unpacked.append(budget.unpacked + n)
        spend(budget, n, packed)

    monkeypatch.setattr(archive._Budget, "spend", recording)
    bounds = archive.Bounds(10_000, 3_000_000, 1_000_000_000, 500)
    with pytest.raises(archive.ArchiveError, match="Stopień kompresji archiwum"):
        archive.read_archive(_zip_bomb(400), "Zip", bounds)
    assert max(unpacked) < 100_000_000


@pytest.mark.server
def test_a_zip_bomb_batch_is_refused_and_others_are_answered(server: ThreadedServer):
    with httpx.Client(base_url=server.url + "/v2", timeout=PATIENCE) as client:
        headers = kit.xades_login(client, NIP).headers
        status = _close(client, headers, _zip_bomb(200), "Zip")
    assert status["status"]["code"] == 430
    assert status["status"]["details"] == [
        "Stopień kompresji archiwum przekracza dopuszczalną wartość 500:1."
    ]
    assert answers_health(server)
