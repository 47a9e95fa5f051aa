"""Invoice forms, compiled-once official schemas and hardened XML parsing.

Schemas come from ``<official>/faktury/schemy`` and ``<official>/faktury/upo``;
the FA schemas import ``StrukturyDanych_v10-0E.xsd`` by an absolute
``http://crd.gov.pl/...`` location, which ``LocalResolver`` maps to the
``FA/bazowe`` files. Any other remote location resolves to an empty document
(the compile fails), so a schema compile can never reach the network.

Invoice documents are parsed with entity resolution, DTD loading and network
access off, and ``huge_tree`` off (libxml2's own depth/size/amplification
guards stay on); a DOCTYPE, a processing instruction, a BOM, a non-UTF-8
encoding or a discouraged Unicode character rejects the document (reference B
§7.1 row 5).
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

FA_TYPES_NS = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"


@dataclass(frozen=True)
class FormSpec:
    """One ``formCode`` triple the API accepts, with its schema (reference B §2.1)."""

    system_code: str
    schema_version: str
    value: str
    # Relative to <official>/faktury/schemy.
    xsd: str
    namespace: str
    root: str
    # "FA" (FA(2)/FA(3)), "FA_RR" or "PEF" (UBL Invoice / CreditNote).
    kind: str
    batch_allowed: bool

    @property
    def logical_name(self) -> str:
        """``NazwaStrukturyLogicznej`` of the UPO, e.g. ``Schemat_FA(3)_v1-0E.xsd``."""
        return f"Schemat_{self.system_code.replace(' ', '')}_v{self.schema_version}.xsd"

    @property
    def is_pef(self) -> bool:
        return self.kind == "PEF"

    def as_json(self) -> dict[str, str]:
        return {
            "systemCode": self.system_code,
            "schemaVersion": self.schema_version,
            "value": self.value,
        }


FORMS: tuple[FormSpec, ...] = (
    FormSpec(
        "FA (2)",
        "1-0E",
        "FA",
        "FA/schemat_FA(2)_v1-0E.xsd",
        "http://crd.gov.pl/wzor/2023/06/29/12648/",
        "Faktura",
        "FA",
        True,
    ),
    FormSpec(
        "FA (3)",
        "1-0E",
        "FA",
        "FA/schemat_FA(3)_v1-0E.xsd",
        "http://crd.gov.pl/wzor/2025/06/25/13775/",
        "Faktura",
        "FA",
        True,
    ),
    FormSpec(
        "PEF (3)",
        "2-1",
        "PEF",
        "PEF/Schemat_PEF(3)_v2-1.xsd",
        UBL_INVOICE_NS,
        "Invoice",
        "PEF",
        False,
    ),
    FormSpec(
        "PEF_KOR (3)",
        "2-1",
        "PEF",
        "PEF/Schemat_PEF_KOR(3)_v2-1.xsd",
        UBL_CREDIT_NOTE_NS,
        "CreditNote",
        "PEF",
        False,
    ),
    FormSpec(
        "FA_RR (1)",
        "1-1E",
        "FA_RR",
        "RR/schemat_FA_RR(1)_v1-1E.xsd",
        "http://crd.gov.pl/wzor/2026/03/06/14189/",
        "Faktura",
        "FA_RR",
        True,
    ),
)

_BY_TRIPLE = {(f.system_code, f.schema_version, f.value): f for f in FORMS}


def find_form(system_code: Any, schema_version: Any, value: Any) -> FormSpec | None:
    """The form for an exact ``formCode`` triple, or None (21405 for the caller)."""
    if not (
        isinstance(system_code, str) and isinstance(schema_version, str) and isinstance(value, str)
    ):
        return None
    return _BY_TRIPLE.get((system_code, schema_version, value))


# -- schemas ------------------------------------------------------------------------


class LocalResolver(etree.Resolver):  # type: ignore[misc]
    """Maps the official http schema locations to files; refuses every other remote URL."""

    def __init__(self, schemy_dir: Path) -> None:
        super().__init__()
        self.schemy_dir = schemy_dir

    def resolve(self, url: str, pubid: str | None, context: Any) -> Any:
        if url.startswith(FA_TYPES_NS):
            name = url[len(FA_TYPES_NS) :]
            local = (self.schemy_dir / "FA" / "bazowe" / name).resolve()
            if local.parent == (self.schemy_dir / "FA" / "bazowe").resolve() and local.is_file():
                return self.resolve_filename(str(local), context)
            return self.resolve_string("", context)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) and not url.startswith("file:"):
            # Never the network: an unknown remote import makes the compile fail.
            return self.resolve_string("", context)
        return None


def safe_parser(**options: bool) -> etree.XMLParser:
    """A parser that never expands entities, loads a DTD or reaches the network.

    ``huge_tree`` stays off, so libxml2's own depth/size/amplification guards apply.
    ``options`` are further ``etree.XMLParser`` switches. A fresh parser each call:
    callers add resolvers to theirs, and lxml parsers are not shared across threads.
    """
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, **options
    )


def _schema_parser(schemy_dir: Path) -> etree.XMLParser:
    parser = safe_parser()
    parser.resolvers.add(LocalResolver(schemy_dir))
    return parser


_compile_lock = threading.Lock()


class _Copies:
    """Spare compiled copies of one schema, one per concurrent validation.

    An ``XMLSchema`` keeps a single error log, which each validation clears
    and refills: two threads validating with one instance would read each
    other's messages. A copy costs one compile (~40 ms for FA(3)), made only
    when every existing one is busy, so their number never exceeds the
    validations that ran at the same moment.
    """

    def __init__(self, build: Callable[[], etree.XMLSchema]) -> None:
        self._build = build
        self.first = build()
        self._free = [self.first]
        self._lock = threading.Lock()

    @contextmanager
    def instance(self) -> Iterator[etree.XMLSchema]:
        with self._lock:
            schema = self._free.pop() if self._free else None
        if schema is None:
            schema = self._build()
        try:
            yield schema
        finally:
            with self._lock:
                self._free.append(schema)


# id(first compiled instance) -> its copies; instances live as long as the process.
_COPIES: dict[int, _Copies] = {}
# Serialises validations with a schema compiled elsewhere (no way to copy it).
_FOREIGN_LOCK = threading.Lock()


def shared(build: Callable[[], etree.XMLSchema]) -> etree.XMLSchema:
    """Compile with ``build`` and return the schema; ``check`` validates with a
    spare copy of it whenever it is busy in another thread."""
    copies = _Copies(build)
    _COPIES[id(copies.first)] = copies
    return copies.first


@lru_cache(maxsize=32)
def _compiled(path: str, schemy_dir: str) -> etree.XMLSchema:
    def build() -> etree.XMLSchema:
        with _compile_lock:
            tree = etree.parse(path, _schema_parser(Path(schemy_dir)))
            return etree.XMLSchema(tree)

    return shared(build)


def schemy_dir(official_dir: Path) -> Path:
    return Path(official_dir) / "faktury" / "schemy"


def invoice_schema(official_dir: Path, form: FormSpec) -> etree.XMLSchema:
    """The compiled schema of ``form`` (compiled once per process and directory)."""
    base = schemy_dir(official_dir)
    return _compiled(str(base / form.xsd), str(base))


def upo_schema(official_dir: Path) -> etree.XMLSchema:
    """The official UPO v4-3 schema (tests validate every UPO the mock serves against it)."""
    path = Path(official_dir) / "faktury" / "upo" / "schemy" / "upo-v4-3.xsd"
    return _compiled(str(path), str(schemy_dir(official_dir)))


# -- parsing ------------------------------------------------------------------------


class XmlRejected(Exception):
    """The document is not acceptable XML; ``details`` go into invoice status 450."""

    def __init__(self, *details: str) -> None:
        super().__init__("; ".join(details))
        self.details = list(details)


INVALID_XML = "Nieprawidłowy XML"

_DECLARATION = re.compile(rb"^<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
# Reference B §7.1 row 5: #x7F-#x84, #x86-#x9F, #xFDD0-#xFDEF and the last two code
# points of planes 1..16.
_DISCOURAGED = re.compile(
    "[\x7f-\x84\x86-\x9f\ufdd0-\ufdef"
    + "".join(
        chr(plane * 0x10000 + 0xFFFE) + "-" + chr(plane * 0x10000 + 0xFFFF)
        for plane in range(1, 17)
    )
    + "]"
)
# Every discouraged character is DEL or beyond ASCII: find those few first. Scanning a
# whole document with the class above cost ~100 µs per invoice (issue 8 profile).
_BEYOND_ASCII = re.compile("[\x7f-\U0010ffff]")


def _first_discouraged(text: str) -> str | None:
    if text.isascii():
        return "\x7f" if "\x7f" in text else None
    for match in _BEYOND_ASCII.finditer(text):
        if _DISCOURAGED.match(match.group()):
            return match.group()
    return None


def parse_document(raw: bytes) -> etree._Element:
    """Parse an invoice; raise ``XmlRejected`` for anything KSeF refuses as XML."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise XmlRejected(INVALID_XML, "Dokument nie może zawierać znacznika BOM.")
    match = _DECLARATION.match(raw)
    if match and match.group(1).decode("ascii").lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise XmlRejected(INVALID_XML, "Dokument musi być zakodowany w UTF-8.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRejected(INVALID_XML, "Dokument nie jest poprawnie zakodowany w UTF-8.") from exc
    bad = _first_discouraged(text)
    if bad:
        raise XmlRejected(INVALID_XML, f"Dokument zawiera niedozwolony znak U+{ord(bad):04X}.")
    try:
        root = etree.fromstring(raw, safe_parser(remove_blank_text=False, collect_ids=False))
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(INVALID_XML, str(exc)[:300]) from exc
    except (ValueError, MemoryError, RecursionError) as exc:
        raise XmlRejected(INVALID_XML) from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected(INVALID_XML, "Deklaracja DTD (DOCTYPE) nie jest dozwolona.")
    if _has_processing_instruction(root):
        raise XmlRejected(INVALID_XML, "Instrukcje przetwarzania nie są dozwolone.")
    return root


def _has_processing_instruction(root: etree._Element) -> bool:
    # iter(ProcessingInstruction) filters in C; a Python loop over every node cost ~15 µs.
    if next(root.iter(etree.ProcessingInstruction), None) is not None:
        return True
    outside = (*root.itersiblings(preceding=True), *root.itersiblings())
    return any(isinstance(node, etree._ProcessingInstruction) for node in outside)


def check(root: etree._Element, schema: etree.XMLSchema, limit: int) -> tuple[bool, list[Any]]:
    """(valid, the first ``limit`` entries of the validator's error log); safe to
    call from several threads at once."""
    copies = _COPIES.get(id(schema))
    if copies is None:
        with _FOREIGN_LOCK:
            return _run(schema, root, limit)
    with copies.instance() as instance:
        return _run(instance, root, limit)


def _run(schema: etree.XMLSchema, root: etree._Element, limit: int) -> tuple[bool, list[Any]]:
    if schema.validate(root):
        return True, []
    return False, list(schema.error_log)[:limit]


def validate(root: etree._Element, schema: etree.XMLSchema) -> list[str]:
    """The validator's messages (at most 10), empty when the document is valid."""
    valid, found = check(root, schema, 10)
    if valid:
        return []
    out = [f"Linia {error.line}: {error.message}"[:500] for error in found]
    return out or ["Dokument nie jest zgodny ze schematem."]


# -- large documents: validated in another process ------------------------------------

# libxml2 reports each schema error through a callback that takes the GIL, so a
# large document with thousands of errors starves the event loop for 40-70 ms at a
# time even from a worker thread (bench/hostile.py, ``bad_invoice``: probe p99
# 206 ms). Above this size another interpreter validates and the server only waits.
PROCESS_VALIDATION_BYTES = 512 * 1024

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _validation_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: the server process runs threads (event loop, workers).
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return _pool


def _validate_raw(raw: bytes, path: str, schemas: str) -> list[str]:
    return validate(parse_document(raw), _compiled(path, schemas))


def validate_invoice(
    raw: bytes, root: etree._Element, official_dir: Path, form: FormSpec
) -> list[str]:
    """``validate`` of an invoice against its form's schema; a document of
    ``PROCESS_VALIDATION_BYTES`` or more is validated in a worker process (call it
    from a worker thread: it blocks until the answer)."""
    schema = invoice_schema(official_dir, form)
    if len(raw) < PROCESS_VALIDATION_BYTES:
        return validate(root, schema)
    base = schemy_dir(official_dir)
    global _pool
    try:
        return (
            _validation_pool().submit(_validate_raw, raw, str(base / form.xsd), str(base)).result()
        )
    except BrokenProcessPool:
        # A worker that died (killed, out of memory) is replaced on the next call;
        # this document is judged here, the answer is the same.
        with _pool_lock:
            _pool = None
        return validate(root, schema)
