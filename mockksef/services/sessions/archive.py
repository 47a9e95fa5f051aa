"""Reading batch archives (ZIP, tar.gz) with hard bounds.

Nothing is ever written to disk, so entry names are only labels; still, a name
that would escape a directory (absolute, ``..``, drive letter) or a link entry
marks the archive as hostile and it is refused (session status 430). Zip bombs
are bounded three ways: each entry is kept only up to the invoice size limit,
the total of unpacked bytes is capped, and the unpacked/packed ratio is
checked while reading.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_CHUNK = 1 << 16
# Below this many unpacked bytes the ratio is not judged (tiny archives compress well).
_RATIO_FLOOR = 4_000_000


class ArchiveError(Exception):
    """The archive cannot be unpacked (session status 430); ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TooManyEntries(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


@dataclass
class Entry:
    name: str
    # None when the entry is larger than the invoice size limit (not kept).
    data: bytes | None
    size: int
    # Base64 SHA-256 of the whole entry (computed even when the data is not kept).
    hash: str


@dataclass(frozen=True)
class Bounds:
    max_entries: int
    max_entry_bytes: int
    max_total_bytes: int
    max_ratio: int


class _Budget:
    def __init__(self, bounds: Bounds, packed: int) -> None:
        self.bounds = bounds
        self.packed = max(packed, 1)
        self.unpacked = 0

    def spend(self, n: int, packed_so_far: int | None = None) -> None:
        self.unpacked += n
        if self.unpacked > self.bounds.max_total_bytes:
            raise ArchiveError(
                "Rozmiar rozpakowanego archiwum przekracza dopuszczalny limit "
                f"{self.bounds.max_total_bytes} bajtów."
            )
        packed = max(packed_so_far or self.packed, 1)
        if self.unpacked > _RATIO_FLOOR and self.unpacked > self.bounds.max_ratio * packed:
            raise ArchiveError(
                "Stopień kompresji archiwum przekracza dopuszczalną wartość "
                f"{self.bounds.max_ratio}:1."
            )


def check_name(name: str) -> str:
    """Refuse names that would escape a directory; keep at most 128 characters."""
    normalized = name.replace("\\", "/")
    parts = normalized.split("/")
    if (
        not normalized.strip()
        or normalized.startswith("/")
        or ".." in parts
        or (len(normalized) > 1 and normalized[1] == ":")
        or "\x00" in normalized
    ):
        raise ArchiveError(f"Nieprawidłowa nazwa pliku w archiwum: '{name[:200]}'.")
    # invoiceFileName holds at most 128 characters.
    return name if len(name) <= 128 else name[-128:]


def _not_a_file(name: str) -> ArchiveError:
    return ArchiveError(f"Wpis '{name}' archiwum nie jest zwykłym plikiem.")


def _check_zip_type(info: zipfile.ZipInfo, name: str) -> None:
    """Refuse a ZIP entry that Unix made a link (or a device, pipe or socket).

    Unix zip tools keep the file mode in the high half of ``external_attr``; a
    symbolic link is an entry whose data is the link target. Archives made
    elsewhere leave the type bits at 0: those entries are files.
    """
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind and kind != stat.S_IFREG:
        raise _not_a_file(name)


class _ReadCounter(io.BytesIO):
    """The ZIP file as zipfile reads it, counting the bytes read so far.

    The ratio is judged against what has been read, not against the sizes the
    entries declare: a 2 MB bomb declares 2 MB and would otherwise be unpacked
    to 500 times that (1 GB, a second and a half) before the ratio stops it.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data


def _read_bounded(
    stream: IO[bytes], limit: int, budget: _Budget | None, packed: _ReadCounter | None = None
) -> tuple[bytes | None, int, str]:
    """Read an entry to its end (hashing it); keep its bytes only up to ``limit``.

    ``budget`` is None when the bytes are already charged below (tar).
    """
    chunks: list[bytes] = []
    digest = hashlib.sha256()
    size = 0
    keep = True
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if budget is not None:
            budget.spend(len(chunk), packed.consumed if packed is not None else None)
        digest.update(chunk)
        if size > limit:
            keep = False
            chunks = []
        elif keep:
            chunks.append(chunk)
    data = b"".join(chunks) if keep else None
    return data, size, base64.b64encode(digest.digest()).decode("ascii")


def read_zip(blob: bytes, bounds: Bounds) -> list[Entry]:
    counter = _ReadCounter(blob)
    try:
        archive = zipfile.ZipFile(counter)
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ArchiveError(f"Plik nie jest poprawnym archiwum ZIP: {exc}.") from exc
    names = [check_name(i.filename) for i in infos]
    for info, name in zip(infos, names, strict=True):
        _check_zip_type(info, name)
    if len(infos) > bounds.max_entries:
        raise TooManyEntries(len(infos))
    budget = _Budget(bounds, len(blob))
    entries: list[Entry] = []
    for info, name in zip(infos, names, strict=True):
        if info.flag_bits & 0x1:
            raise ArchiveError(f"Wpis '{name}' archiwum jest zaszyfrowany.")
        try:
            with archive.open(info) as stream:
                data, size, digest = _read_bounded(stream, bounds.max_entry_bytes, budget, counter)
        except ArchiveError:
            raise
        except (
            zipfile.BadZipFile,
            NotImplementedError,
            RuntimeError,
            ValueError,
            OSError,
            EOFError,
            zlib.error,
        ) as exc:
            raise ArchiveError(f"Nie można rozpakować wpisu '{name}': {exc}.") from exc
        entries.append(Entry(name, data, size, digest))
    return entries


class _Counting(io.RawIOBase):
    """Counts the packed bytes gzip has consumed (for the ratio check)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        chunk = self._inner.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    @property
    def consumed(self) -> int:
        return self._inner.tell()


class _Limited(io.RawIOBase):
    """The unpacked stream tar reads from, charged against the budget."""

    def __init__(self, source: gzip.GzipFile, counter: _Counting, budget: _Budget) -> None:
        self._source = source
        self._counter = counter
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        chunk = self._source.read(len(view))
        if chunk:
            self._budget.spend(len(chunk), self._counter.consumed)
        view[: len(chunk)] = chunk
        return len(chunk)


def read_targz(blob: bytes, bounds: Bounds) -> list[Entry]:
    # Member data is charged to the budget once, by the stream under tarfile.
    budget = _Budget(bounds, len(blob))
    counter = _Counting(blob)
    entries: list[Entry] = []
    count = 0
    try:
        unpacked = gzip.GzipFile(fileobj=io.BufferedReader(counter), mode="rb")
        stream = io.BufferedReader(_Limited(unpacked, counter, budget), buffer_size=_CHUNK)
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.isdir():
                    continue
                name = check_name(member.name)
                if not member.isfile():
                    raise _not_a_file(name)
                count += 1
                if count > bounds.max_entries:
                    continue  # keep counting; tar skips the data through the budget
                source = archive.extractfile(member)
                if source is None:
                    raise ArchiveError(f"Nie można odczytać wpisu '{name}'.")
                data, size, digest = _read_bounded(source, bounds.max_entry_bytes, None)
                entries.append(Entry(name, data, size, digest))
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise ArchiveError(f"Plik nie jest poprawnym archiwum tar.gz: {exc}.") from exc
    if count > bounds.max_entries:
        raise TooManyEntries(count)
    return entries


def read_archive(blob: bytes, compression: str, bounds: Bounds) -> list[Entry]:
    """The file entries of the archive in archive order (directories left out)."""
    if compression == "TarGz":
        return read_targz(blob, bounds)
    return read_zip(blob, bounds)
