"""The invoice checks of reference B §7.1, shared by online and batch sessions.

Order: declared size/hash (online) -> size limit -> XML hygiene -> XSD of the
session's form -> issue date not in the future -> identifier checksums (PROD,
or sessions opened with ``X-KSeF-Feature: subject-identifier-validation``) ->
attachment rules -> right to issue for the seller -> duplicate -> accepted.

``check_invoice`` runs every check but the last and may run in a worker
thread, outside the sessions lock (its XSD validation of a 3 MB invoice takes
a second); ``check_duplicate`` must run under that lock, together with the
recording of the invoice, so that two copies sent at once cannot both pass.

Simplifications (moto-style):
- right to issue: the context's NIP is the seller's, or the seller granted the
  context's NIP ``SelfInvoicing``/``TaxRepresentative`` (FA) or ``RRInvoicing``
  (FA_RR), or a PeppolId context holds ``PefInvoicing`` from the seller (PEF), or
  an enforcement context is the invoice's ``PodmiotUpowazniony``; VAT groups,
  JST and other relations are not modelled;
- attachment rules apply to FA ``Zalacznik`` only (not to PEF embedded documents);
- the duplicate key's 10-year window is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mockksef import official
from mockksef.crypto import sha256_b64
from mockksef.ids import WARSAW
from mockksef.models import (
    INTERNAL_ID_RE,
    SubjectIdentifier,
    internal_id_check_digit,
    nip_checksum_ok,
)
from mockksef.services.sessions.models import BATCH, ONLINE, Outcome, Session
from mockksef.xml import xsd
from mockksef.xml.extract import ExtractionError, InvoiceFacts, extract

if TYPE_CHECKING:
    from mockksef.services.invoices.models import StoredInvoice
    from mockksef.state import EnvironmentState

_FA_GRANTS = ("SelfInvoicing", "TaxRepresentative")


def warsaw_day(value: datetime) -> date:
    return value.astimezone(WARSAW).date()


@dataclass
class Verdict:
    outcome: Outcome
    facts: InvoiceFacts | None = None
    duplicate_of: StoredInvoice | None = None


def official_dir(env: EnvironmentState) -> Path:
    source = env.root.spec.source
    return Path(source).parent if source else official.locate(env.config.official_dir)


def _too_big(size: int, limit: int) -> str:
    return f"Rozmiar faktury ({size} B) przekracza dopuszczalny limit {limit} B."


def check_invoice(
    env: EnvironmentState,
    session: Session,
    plain: bytes,
    *,
    invoicing_date: datetime,
    declared_size: int | None = None,
    declared_hash: str | None = None,
    technical_correction: bool = False,
) -> Verdict:
    """Run every check but the duplicate one; the verdict is the first failure or 200
    with the facts (then ``check_duplicate`` decides)."""
    limits = env.limits.session_limits(session.context)
    kind_limits = limits.online if session.kind == ONLINE else limits.batch
    if declared_size is not None and len(plain) != declared_size:
        return Verdict(
            Outcome(
                430,
                (f"Rozmiar faktury nie zgadza się z zadeklarowaną wartością: '{declared_size}'.",),
            )
        )
    if declared_hash is not None and sha256_b64(plain) != declared_hash:
        return Verdict(
            Outcome(
                430,
                (f"Skrót faktury nie zgadza się z zadeklarowaną wartością: '{declared_hash}'.",),
            )
        )
    hard_limit = max(
        kind_limits.max_invoice_with_attachment_size_bytes, kind_limits.max_invoice_size_bytes
    )
    if len(plain) > hard_limit:
        return Verdict(Outcome(430, (_too_big(len(plain), hard_limit),)))
    try:
        root = xsd.parse_document(plain)
    except xsd.XmlRejected as rejected:
        return Verdict(Outcome(450, tuple(rejected.details)))
    errors = xsd.validate_invoice(plain, root, official_dir(env), session.form)
    if errors:
        return Verdict(Outcome(450, tuple(errors)))
    try:
        facts = extract(root, session.form)
    except ExtractionError as exc:
        return Verdict(Outcome(450, (str(exc),)))
    attachment = facts.has_attachment and session.form.kind == "FA"
    limit = kind_limits.max_invoice_size_bytes
    if not attachment and len(plain) > limit:
        return Verdict(Outcome(430, (_too_big(len(plain), limit),)), facts)
    today = warsaw_day(invoicing_date)
    if facts.issue_date > today:
        return Verdict(
            Outcome(
                450,
                (
                    f"Data wystawienia faktury {facts.issue_date.isoformat()} jest późniejsza "
                    f"niż data przyjęcia faktury {today.isoformat()}.",
                ),
            ),
            facts,
        )
    if env.profile.validates_nip_checksums or session.subject_identifier_validation:
        problem = _identifier_problem(facts)
        if problem:
            return Verdict(Outcome(450, (problem,)), facts)
    if attachment:
        if session.kind == ONLINE and not technical_correction:
            return Verdict(Outcome(415), facts)
        if session.kind == BATCH and not _consent(env, facts.seller_nip, invoicing_date):
            return Verdict(
                Outcome(
                    410,
                    (
                        f"Sprzedawca {facts.seller_nip} nie posiada zgody do wysyłania faktur "
                        "z załącznikami",
                    ),
                ),
                facts,
            )
    if not _may_issue(env, session, facts):
        return Verdict(
            Outcome(
                410,
                (
                    f"Podmiot {session.context.value} nie posiada uprawnień do wystawienia "
                    f"faktury w imieniu sprzedawcy {facts.seller_nip}.",
                ),
            ),
            facts,
        )
    return Verdict(Outcome(200), facts)


def check_duplicate(env: EnvironmentState, verdict: Verdict) -> Verdict:
    """The last check of an invoice that passed every other (under the sessions lock)."""
    facts = verdict.facts
    if not verdict.outcome.ok or facts is None:
        return verdict
    original = env.invoices.find_duplicate(*facts.duplicate_key)
    if original is not None:
        return Verdict(
            Outcome(
                440,
                (
                    f"Duplikat faktury. Faktura o numerze KSeF: {original.ksef_number} została "
                    "już prawidłowo przesłana do systemu w sesji: "
                    f"{original.session_reference_number}",
                ),
                {
                    "originalSessionReferenceNumber": original.session_reference_number,
                    "originalKsefNumber": original.ksef_number,
                },
            ),
            facts,
            original,
        )
    return verdict


def _identifier_problem(facts: InvoiceFacts) -> str | None:
    for where, value in facts.identifiers:
        match = INTERNAL_ID_RE.match(value)
        if match:
            nip, unit = match.group(1), match.group(5)
            if not nip_checksum_ok(nip) or internal_id_check_digit(nip, unit[:4]) != int(unit[4]):
                return f"Nieprawidłowy identyfikator wewnętrzny {value} ({where})."
        elif not nip_checksum_ok(value):
            return f"Nieprawidłowy numer NIP {value} ({where})."
    return None


def _consent(env: EnvironmentState, nip: str, when: datetime) -> bool:
    consent = env.subjects.attachment_consent(nip)
    if not consent.allowed:
        return False
    return consent.revoked_date is None or warsaw_day(when) < consent.revoked_date


def _may_issue(env: EnvironmentState, session: Session, facts: InvoiceFacts) -> bool:
    context = session.context
    context_nip = context.nip
    if context_nip and context_nip == facts.seller_nip:
        return True
    permissions = env.permissions
    if session.form.kind == "PEF":
        if context.type == "PeppolId":
            return permissions.has_authorization(
                facts.seller_nip, SubjectIdentifier("PeppolId", context.value), "PefInvoicing"
            )
        return False
    if not context_nip:
        return False
    scopes = ("RRInvoicing",) if session.form.kind == "FA_RR" else _FA_GRANTS
    me = SubjectIdentifier("Nip", context_nip)
    if any(permissions.has_authorization(facts.seller_nip, me, scope) for scope in scopes):
        return True
    authorized = facts.authorized_subject
    return bool(
        authorized
        and authorized[0] == context_nip
        and env.subjects.is_enforcement_context(context_nip)
    )
