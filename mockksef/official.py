"""Where the official KSeF artefacts (OpenAPI, XSDs, samples) come from.

They are never shipped with mockksef. Resolution order:

1. an explicit directory (``--official-dir`` / ``MockConfig.official_dir``), else
   ``$MOCKKSEF_OFFICIAL_DIR``: when one is named, it is the only place looked at;
2. ``../shared/ksef-official`` beside the checkout (the development layout);
3. the user cache, filled by ``mockksef sync SOURCE`` and verified against the
   SHA-256 pins in ``official_pins.json``.

When nothing is found, ``OfficialFilesMissing`` says exactly what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

PINS_FILE = Path(__file__).with_name("official_pins.json")
REQUIRED = "open-api.json"


class OfficialFilesMissing(RuntimeError):
    pass


class PinMismatch(RuntimeError):
    pass


def pins() -> dict[str, str]:
    data = json.loads(PINS_FILE.read_text(encoding="utf-8"))
    return dict(data["files"])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mockksef" / "ksef-official"


def checkout_dir() -> Path:
    # mockksef/official.py -> repo root -> ../shared/ksef-official
    return Path(__file__).resolve().parent.parent.parent / "shared" / "ksef-official"


def candidates(
    explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> list[Path]:
    variables = os.environ if env is None else env
    found: list[Path] = []
    if explicit:
        found.append(Path(explicit))
    if variables.get("MOCKKSEF_OFFICIAL_DIR"):
        found.append(Path(variables["MOCKKSEF_OFFICIAL_DIR"]))
    found.append(checkout_dir())
    found.append(Path.cwd().parent / "shared" / "ksef-official")
    found.append(cache_dir())
    return found


def locate(explicit: str | os.PathLike[str] | None = None) -> Path:
    # A directory the user named (the flag, else MOCKKSEF_OFFICIAL_DIR) is the only
    # place looked at: silently falling back elsewhere would serve another version
    # than the one asked for.
    named = explicit or os.environ.get("MOCKKSEF_OFFICIAL_DIR")
    tried = [Path(named)] if named else candidates(None)
    for path in tried:
        if (path / REQUIRED).is_file():
            return path.resolve()
    if named:
        source = "" if explicit else " (MOCKKSEF_OFFICIAL_DIR)"
        found = f"The official KSeF files were not found in {named}{source}: no {REQUIRED} there."
    else:
        lines = "\n".join(f"  - {p}" for p in tried)
        found = (
            "mockksef needs the official KSeF artefacts (open-api.json, the FA/UPO/auth XSDs), "
            f"which it does not ship. Looked in:\n{lines}"
        )
    raise OfficialFilesMissing(
        f"{found}\n"
        "They are public artefacts of the Ministry of Finance, published in its KSeF API "
        "repository (https://github.com/CIRFMF/ksef-api: open-api.json, faktury/, auth/).\n"
        "Do one of:\n"
        "  * export MOCKKSEF_OFFICIAL_DIR=/path/to/ksef-official\n"
        "  * mockksef serve --official-dir /path/to/ksef-official\n"
        "  * mockksef sync /path/to/ksef-official   (or a base URL serving the same layout),\n"
        f"    which verifies each file against its SHA-256 pin and copies it to {cache_dir()}"
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(directory: Path) -> dict[str, str]:
    """Return ``{relative path: problem}`` for files that are missing or differ."""
    problems: dict[str, str] = {}
    for rel, expected in pins().items():
        path = directory / rel
        if not path.is_file():
            problems[rel] = "missing"
        elif sha256_file(path) != expected:
            problems[rel] = "SHA-256 differs from the pin"
    return problems


def sync(
    source: str,
    target: Path | None = None,
    fetch: Callable[[str], bytes] | None = None,
) -> Path:
    """Copy the pinned files from a directory or base URL into the cache.

    Every file is checked against its pin before anything is written; a
    mismatch aborts the whole sync.
    """
    target = target or cache_dir()
    staged: dict[str, bytes] = {}
    for rel, expected in pins().items():
        if source.startswith(("http://", "https://")):
            import httpx

            getter = fetch or (
                lambda url: (
                    httpx.get(url, timeout=60, follow_redirects=True).raise_for_status().content
                )
            )
            data = getter(source.rstrip("/") + "/" + rel)
        else:
            data = (Path(source) / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != expected:
            raise PinMismatch(f"{rel}: SHA-256 does not match the pin; nothing was written")
        staged[rel] = data
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        for rel, data in staged.items():
            path = Path(tmp) / "files" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(Path(tmp) / "files"), str(target))
    return target
