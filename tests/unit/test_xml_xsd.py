"""Official invoice schemas (compiled once, imports resolved locally) and hardened parsing."""

from __future__ import annotations

import time
from datetime import date

import pytest
from lxml import etree

from mockksef.xml import xsd
from tests import kit
from tests.conftest import OFFICIAL

NIP = "5265877635"


def _form(code: dict[str, str]) -> xsd.FormSpec:
    form = xsd.find_form(code["systemCode"], code["schemaVersion"], code["value"])
    assert form is not None
    return form


def test_form_table_is_the_official_one():
    triples = {(f.system_code, f.schema_version, f.value) for f in xsd.FORMS}
    assert triples == {
        ("FA (2)", "1-0E", "FA"),
        ("FA (3)", "1-0E", "FA"),
        ("PEF (3)", "2-1", "PEF"),
        ("PEF_KOR (3)", "2-1", "PEF"),
        ("FA_RR (1)", "1-1E", "FA_RR"),
    }
    assert xsd.find_form("FA(3)", "1-0E", "FA") is None  # the space matters
    assert xsd.find_form("FA_RR (1)", "1-1E", "RR") is None  # historic value
    assert xsd.find_form(None, 1, "FA") is None
    assert {f.system_code for f in xsd.FORMS if f.batch_allowed} == {
        "FA (2)",
        "FA (3)",
        "FA_RR (1)",
    }
    assert _form(kit.FA3).logical_name == "Schemat_FA(3)_v1-0E.xsd"
    assert _form(kit.FA_RR).logical_name == "Schemat_FA_RR(1)_v1-1E.xsd"


@pytest.mark.parametrize(
    ("form", "document"),
    [
        (kit.FA3, lambda: kit.fa3(NIP)),
        (kit.FA2, lambda: kit.fa2(NIP)),
        (kit.FA_RR, lambda: kit.fa_rr(NIP)),
    ],
    ids=["FA(3)", "FA(2)", "FA_RR(1)"],
)
def test_official_samples_validate_against_their_schema(form, document):
    schema = xsd.invoice_schema(OFFICIAL, _form(form))
    root = xsd.parse_document(document())
    assert xsd.validate(root, schema) == []


def test_pef_schemas_compile_and_validate_the_samples():
    schema = xsd.invoice_schema(OFFICIAL, _form(kit.PEF))
    assert xsd.validate(xsd.parse_document(kit.pef(NIP)), schema) == []


def test_schemas_are_compiled_once():
    form = _form(kit.FA3)
    assert xsd.invoice_schema(OFFICIAL, form) is xsd.invoice_schema(OFFICIAL, form)


def test_wrong_schema_gives_the_validator_message():
    schema = xsd.invoice_schema(OFFICIAL, _form(kit.FA3))
    errors = xsd.validate(xsd.parse_document(kit.fa2(NIP)), schema)
    assert errors and "No matching global declaration" in errors[0]
    broken = kit.fa3(NIP).replace(b"<P_2>", b"<P_2x>").replace(b"</P_2>", b"</P_2x>")
    assert xsd.validate(xsd.parse_document(broken), schema)


def test_resolver_never_reaches_the_network(tmp_path):
    # A schema importing an unknown http location fails to compile, at once.
    schema_text = """<?xml version="1.0"?>
    <xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t">
      <xsd:import namespace="urn:x" schemaLocation="http://example.invalid/x.xsd"/>
      <xsd:element name="a" type="xsd:string"/>
    </xsd:schema>"""
    path = tmp_path / "t.xsd"
    path.write_text(schema_text)
    parser = xsd._schema_parser(OFFICIAL / "faktury" / "schemy")
    started = time.monotonic()
    with pytest.raises(etree.XMLSchemaParseError, match="empty"):
        etree.XMLSchema(etree.parse(str(path), parser))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"\xef\xbb\xbf<a/>", "BOM"),
        (b'<?xml version="1.0" encoding="ISO-8859-2"?><a>\xb1</a>', "UTF-8"),
        (b"<a>\xff\xfe</a>", "UTF-8"),
        (b"<a>\xc2\x80</a>", "U+0080"),
        (b"<a>\xef\xb7\x90</a>", "U+FDD0"),
        (b"<a><?pi data?></a>", "Instrukcje"),
        (b"<?pi data?><a/>", "Instrukcje"),
        (b"<a><b></a>", "mismatch"),
        (b"not xml at all", "Start tag expected"),
        (b"", ""),
    ],
)
def test_documents_kseF_refuses_as_xml(document, fragment):
    with pytest.raises(xsd.XmlRejected) as rejected:
        xsd.parse_document(document)
    assert rejected.value.details[0] == "Nieprawidłowy XML"
    assert fragment in " ".join(rejected.value.details)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE, b"<!DOCTYPE a><a/>"])
def test_dtds_and_entities_are_refused_quickly(document):
    started = time.monotonic()
    with pytest.raises(xsd.XmlRejected) as rejected:
        xsd.parse_document(document)
    assert time.monotonic() - started < 2
    assert rejected.value.details[0] == "Nieprawidłowy XML"


def test_deep_nesting_is_refused_not_a_crash():
    document = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(xsd.XmlRejected):
        xsd.parse_document(document)


def test_a_plain_document_parses():
    root = xsd.parse_document(kit.fa3(NIP, issue=date(2026, 1, 1)))
    assert etree.QName(root).localname == "Faktura"


def _grown_invalid_fa3(size: int) -> bytes:
    xml = kit.fa3(NIP)
    row = b"<FaWiersz><NrWierszaFa>x</NrWierszaFa><P_7>?</P_7></FaWiersz>"
    at = xml.index(b"<FaWiersz>")
    return xml[:at] + row * ((size - len(xml)) // len(row)) + xml[at:]


def test_a_large_invoice_is_validated_in_another_process_with_the_same_answer():
    form = _form({"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"})
    raw = _grown_invalid_fa3(xsd.PROCESS_VALIDATION_BYTES + 10_000)
    root = xsd.parse_document(raw)
    here = xsd.validate(root, xsd.invoice_schema(OFFICIAL, form))
    assert here  # thousands of rows break the schema; the first ten are reported
    assert xsd.validate_invoice(raw, root, OFFICIAL, form) == here
    # The answer came from the worker process, not from this interpreter.
    assert xsd._pool is not None
    [worker] = xsd._pool._processes.values()  # type: ignore[union-attr]
    assert worker.pid is not None and worker.is_alive()


def test_a_small_invoice_is_validated_in_process():
    form = _form({"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"})
    raw = _grown_invalid_fa3(20_000)
    root = xsd.parse_document(raw)
    before = xsd._pool
    assert xsd.validate_invoice(raw, root, OFFICIAL, form) == xsd.validate(
        root, xsd.invoice_schema(OFFICIAL, form)
    )
    assert xsd._pool is before
