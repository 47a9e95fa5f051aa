"""Batch archives: ZIP and tar.gz read in order, hostile archives refused, bombs bounded."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile

import pytest

from mockksef.services.sessions.archive import (
    ArchiveError,
    Bounds,
    TooManyEntries,
    read_archive,
)
from tests import kit

BOUNDS = Bounds(
    max_entries=10, max_entry_bytes=1_000_000, max_total_bytes=50_000_000, max_ratio=500
)


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_entries_in_archive_order_with_hashes(compression):
    files = {f"faktura{i}.xml": f"<a>{i}</a>".encode() for i in range(3)}
    archive = kit.build_targz(files) if compression == "TarGz" else kit.build_zip(files)
    entries = read_archive(archive, compression, BOUNDS)
    assert [e.name for e in entries] == list(files)
    assert [e.data for e in entries] == list(files.values())
    assert entries[0].hash == kit.sha(b"<a>0</a>")


def test_directories_are_skipped():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dir/", b"")
        archive.writestr("dir/a.xml", b"<a/>")
    assert [e.name for e in read_archive(buffer.getvalue(), "Zip", BOUNDS)] == ["dir/a.xml"]


@pytest.mark.parametrize(
    "name", ["../evil.xml", "/etc/passwd", "a/../../b.xml", "C:\\x.xml", "..\\x.xml"]
)
@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_path_traversal_names_refuse_the_archive(name, compression):
    files = {"ok.xml": b"<a/>", name: b"<b/>"}
    archive = kit.build_targz(files) if compression == "TarGz" else kit.build_zip(files)
    with pytest.raises(ArchiveError, match="Nieprawidłowa nazwa pliku"):
        read_archive(archive, compression, BOUNDS)


def test_links_in_tar_refuse_the_archive():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("link.xml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(ArchiveError, match="nie jest zwykłym plikiem"):
        read_archive(buffer.getvalue(), "TarGz", BOUNDS)


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_too_many_entries_are_counted(compression):
    files = {f"{i}.xml": b"<a/>" for i in range(12)}
    archive = kit.build_targz(files) if compression == "TarGz" else kit.build_zip(files)
    with pytest.raises(TooManyEntries) as too_many:
        read_archive(archive, compression, BOUNDS)
    assert too_many.value.count == 12


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_an_oversized_entry_is_not_kept_but_hashed(compression):
    big = b"<a>" + b"x" * 2_000_000 + b"</a>"
    files = {"big.xml": big, "small.xml": b"<a/>"}
    archive = kit.build_targz(files) if compression == "TarGz" else kit.build_zip(files)
    entries = read_archive(
        archive, compression, Bounds(10, 1_000_000, 50_000_000, max_ratio=100_000)
    )
    assert entries[0].data is None and entries[0].size == len(big)
    assert entries[0].hash == kit.sha(big)
    assert entries[1].data == b"<a/>"


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_zip_bomb_is_stopped_by_the_ratio_quickly(compression):
    zeros = b"\0" * 60_000_000
    archive = (
        kit.build_targz({"bomb.xml": zeros})
        if compression == "TarGz"
        else kit.build_zip({"bomb.xml": zeros})
    )
    started = time.monotonic()
    with pytest.raises(ArchiveError, match="Stopień kompresji"):
        read_archive(archive, compression, Bounds(10, 1_000_000, 10**12, 500))
    assert time.monotonic() - started < 5


def test_total_unpacked_size_is_capped():
    files = {f"{i}.xml": bytes(range(256)) * 2000 for i in range(8)}  # ~4 MB, poorly compressible
    archive = kit.build_zip(files)
    with pytest.raises(ArchiveError, match="Rozmiar rozpakowanego archiwum"):
        read_archive(archive, "Zip", Bounds(10, 1_000_000, 2_000_000, 10_000))


@pytest.mark.parametrize(
    ("blob", "compression"),
    [
        (b"PK\x03\x04 definitely not a zip", "Zip"),
        (b"not an archive", "TarGz"),
        (kit.build_zip({"a.xml": b"<a/>"})[:-30], "Zip"),
        (kit.build_targz({"a.xml": b"<a/>" * 1000})[:-20], "TarGz"),
        (kit.build_zip({"a.xml": b"<a/>"}), "TarGz"),
    ],
    # Archive bytes carry timestamps: explicit ids keep xdist workers' collections identical.
    ids=["bad-zip", "bad-targz", "truncated-zip", "truncated-targz", "zip-as-targz"],
)
def test_broken_archives_are_archive_errors(blob, compression):
    with pytest.raises(ArchiveError):
        read_archive(blob, compression, BOUNDS)


def test_corrupted_zip_data_is_an_archive_error():
    archive = bytearray(kit.build_zip({"a.xml": b"<faktura>" + b"abc" * 5000 + b"</faktura>"}))
    archive[60] ^= 0xFF  # inside the compressed data
    with pytest.raises(ArchiveError):
        read_archive(bytes(archive), "Zip", BOUNDS)
