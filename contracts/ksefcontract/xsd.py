"""The official XSDs of the documents KSeF serves: UPO v4-3 and the invoice schemas.

Read at run time from the official directory (never a committed copy). The
invoice schemas import their base types by ``http://crd.gov.pl/...`` URLs; a
resolver maps those to the ``bazowe/`` files beside them, and the parser never
touches the network or expands entities.

Two known properties of real KSeF documents are tolerated on purpose:

* the UPO XSD fixes ``NazwaPodmiotuPrzyjmujacego`` to ``Ministerstwo Finansów``
  while the test environments add a suffix (the official example UPOs carry
  ``… - środowisko testowe (TE)``), so the fixed value is replaced by a check of
  the three known names;
* real UPOs end with the Ministry's enveloped ``ds:Signature``, which the XSD
  does not declare; it is removed before validation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

__all__ = ["RECEIVER_NAMES", "DocumentSchemas", "UPO_NAMESPACE"]

UPO_NAMESPACE = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
_XSD = "http://www.w3.org/2001/XMLSchema"
_DSIG = "http://www.w3.org/2000/09/xmldsig#"

# Names of the receiving party in UPOs: production, TEST (TE) and DEMO (TR).
RECEIVER_NAMES = (
    "Ministerstwo Finansów",
    "Ministerstwo Finansów - środowisko testowe (TE)",
    "Ministerstwo Finansów - środowisko przedprodukcyjne (TR)",
)

# Root namespace -> schema file, relative to the official directory.
_FILES = {
    UPO_NAMESPACE: "faktury/upo/schemy/upo-v4-3.xsd",
    "http://crd.gov.pl/wzor/2023/06/29/12648/": "faktury/schemy/FA/schemat_FA(2)_v1-0E.xsd",
    "http://crd.gov.pl/wzor/2025/06/25/13775/": "faktury/schemy/FA/schemat_FA(3)_v1-0E.xsd",
    "http://crd.gov.pl/wzor/2026/03/06/14189/": "faktury/schemy/RR/schemat_FA_RR(1)_v1-1E.xsd",
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "faktury/schemy/PEF/Schemat_PEF(3)_v2-1.xsd",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "faktury/schemy/PEF/Schemat_PEF_KOR(3)_v2-1.xsd",
}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class _LocalImports(etree.Resolver):  # type: ignore[misc]  # lxml ships no types: Resolver is Any
    """Resolve ``http://…/Name.xsd`` imports to a local file of the same name."""

    def __init__(self, directories: list[Path]) -> None:
        super().__init__()
        self.directories = directories

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        if not system_url or not system_url.startswith(("http://", "https://")):
            return None
        name = system_url.rsplit("/", 1)[-1]
        for directory in self.directories:
            candidate = directory / name
            if candidate.is_file():
                return self.resolve_filename(str(candidate), context)
        return None


@dataclass
class Problem:
    kind: str  # "xml" | "namespace" | "schema"
    message: str


class DocumentSchemas:
    """Compiled official schemas by root namespace (compiled lazily, once)."""

    def __init__(self, official_dir: Path) -> None:
        self.official_dir = Path(official_dir)
        self._compiled: dict[str, etree.XMLSchema] = {}
        self._lock = threading.Lock()

    def known(self, namespace: str) -> bool:
        return namespace in _FILES

    def schema(self, namespace: str) -> etree.XMLSchema:
        with self._lock:
            compiled = self._compiled.get(namespace)
            if compiled is None:
                compiled = self._compile(namespace)
                self._compiled[namespace] = compiled
            return compiled

    def _compile(self, namespace: str) -> etree.XMLSchema:
        path = self.official_dir / _FILES[namespace]
        parser = _parser()
        base = self.official_dir / "faktury" / "schemy"
        parser.resolvers.add(_LocalImports([base / "FA" / "bazowe", base / "PEF" / "bazowe"]))
        tree = etree.parse(str(path), parser)
        if namespace == UPO_NAMESPACE:
            for element in tree.iter(f"{{{_XSD}}}element"):
                if element.get("name") == "NazwaPodmiotuPrzyjmujacego":
                    element.attrib.pop("fixed", None)
        return etree.XMLSchema(tree)

    def validate(self, content: bytes, expected: tuple[str, ...] = ()) -> list[Problem]:
        """Problems of one document; ``expected`` limits the acceptable root namespaces."""
        try:
            root = etree.fromstring(content, _parser())
        except etree.XMLSyntaxError as exc:
            return [Problem("xml", f"not well-formed XML: {exc}")]
        namespace = etree.QName(root).namespace or ""
        if expected and namespace not in expected:
            return [
                Problem(
                    "namespace",
                    f"root element {etree.QName(root).localname!r} in namespace {namespace!r}; "
                    f"expected one of {list(expected)}",
                )
            ]
        if namespace not in _FILES:
            return [Problem("namespace", f"no official schema for namespace {namespace!r}")]
        problems: list[Problem] = []
        if namespace == UPO_NAMESPACE:
            for signature in root.findall(f"{{{_DSIG}}}Signature"):
                root.remove(signature)
            name = root.findtext(f"{{{UPO_NAMESPACE}}}NazwaPodmiotuPrzyjmujacego")
            if name is not None and name not in RECEIVER_NAMES:
                problems.append(
                    Problem(
                        "schema",
                        f"NazwaPodmiotuPrzyjmujacego {name!r} is none of {list(RECEIVER_NAMES)}",
                    )
                )
        schema = self.schema(namespace)
        if not schema.validate(root):
            problems += [
                Problem("schema", f"line {e.line}: {e.message}")
                for e in list(schema.error_log)[:10]
            ]
        return problems

    @staticmethod
    def invoice_namespaces() -> tuple[str, ...]:
        return tuple(ns for ns in _FILES if ns != UPO_NAMESPACE)
