"""Refresh ``mockksef/official_pins.json`` from a directory of the official KSeF files.

    python scripts/pin_official.py [DIR] [--pins FILE]

DIR defaults to where mockksef finds the files (``MOCKKSEF_OFFICIAL_DIR``,
``../shared/ksef-official``, the cache). Every file under it is pinned by
SHA-256; only the hashes are written, never the files. Run it when the Ministry
publishes new versions, then the test suite: ``mockksef sync`` and ``mockksef
official`` check against these pins.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mockksef import official


def pins_of(directory: Path) -> dict[str, str]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {p.relative_to(directory).as_posix(): official.sha256_file(p) for p in files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, help="the official files")
    parser.add_argument("--pins", type=Path, default=official.PINS_FILE, help="file to write")
    args = parser.parse_args(argv)
    try:
        directory = official.locate(args.directory)
    except official.OfficialFilesMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    data = json.loads(official.PINS_FILE.read_text(encoding="utf-8"))
    data["files"] = pins_of(directory)
    args.pins.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(data['files'])} files of {directory} pinned in {args.pins}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
