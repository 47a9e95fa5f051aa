"""The links the official spec lacks, written once as flows.

The OpenAPI document has no ``links``: nothing tells a fuzzer that the
``referenceNumber`` of ``POST /sessions/online`` is what ``POST
/sessions/online/{referenceNumber}/invoices`` takes, or that authentication
needs a signed challenge. These flows walk those chains with real data:

* ``auth`` — challenge → XAdES (or KSeF token) → status → redeem → refresh →
  list sessions (the harness logs in with it);
* ``ksef-token`` — generate a KSeF token → poll until Active → log in with it →
  revoke it;
* ``online-session`` — public keys → open an encrypted online session → send a
  FA(3) invoice → poll its status → invoice UPO (by reference and by KSeF
  number) → close → poll the session → session UPO;
* ``query-download`` — find the invoice just sent with the metadata query →
  download it (the same bytes, ``x-ms-meta-hash`` = its hash, valid FA(3)).

Every answer on the way goes through the same checks as the fuzzed requests.
A flow runs only when the server implements every operation it requires;
otherwise it is skipped, with the missing operations as the reason, and that
decision comes from the operation registry alone (``Harness.implemented``),
never from a failed response.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx

from ksefclient import FA3, PublicKeyCertificate, SymmetricKey
from ksefclient.xades import auth_token_request, personal_certificate, sign_auth_token_request
from ksefcontract import wire
from ksefcontract.report import Finding, FlowResult, StepResult, excerpt
from mockksef import operations
from mockksef.clock import format_datetime, parse_datetime

if TYPE_CHECKING:
    from ksefcontract.harness import Harness, Tokens

__all__ = ["AUTH", "FLOWS", "Flow", "FlowContext", "run_flow"]


class StepFailed(Exception):
    """A link broke: the flow cannot go on."""


class StepSkipped(Exception):
    pass


@dataclass(frozen=True)
class Flow:
    name: str
    description: str
    requires: tuple[str, ...]
    body: Callable[[FlowContext], None]
    # Requirements that depend on the credentials (the login path).
    requires_for: Callable[[Harness], tuple[str, ...]] = lambda h: ()


@dataclass
class FlowContext:
    harness: Harness
    result: FlowResult
    data: dict[str, Any] = field(default_factory=dict)

    # -- steps ------------------------------------------------------------------------------

    def call(
        self,
        name: str,
        op_id: str,
        *,
        path: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        media_type: str | None = None,
        bearer: str | None = None,
        expect: tuple[int, ...] = (200,),
        optional: bool = False,
    ) -> httpx.Response:
        """One validated request; a status outside ``expect`` breaks the flow."""
        h = self.harness
        if not h.is_implemented(op_id):
            if optional:
                self.result.steps.append(
                    StepResult(name, op_id, "skipped", reason="not implemented (registry)")
                )
                raise StepSkipped(op_id)
            raise StepFailed(f"{op_id} is required but not implemented")
        op = operations.BY_ID[op_id]
        api_op = h.schema[op.path][op.method]
        headers = h.request_headers(len(self.result.steps))
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        body: Any = json_body
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            media_type = "application/json"
        if content is not None and media_type:
            headers["Content-Type"] = media_type
        case = api_op.Case(
            path_parameters=path or {},
            query=query or {},
            headers=headers,
            body=body if body is not None else _not_set(),
            media_type=media_type,
        )
        url = h.url(_fill(op.path, path or {}))
        request: dict[str, Any] = {"method": op.method, "url": url, "headers": headers}
        if query:
            request["params"] = query
        if content is not None:
            request["content"] = content
        sink: list[Finding] = []
        from ksefcontract.harness import TransportFailure, _OutOfTime

        try:
            response, validated = h.send(case, request, h.checks.positive, sink)
        except _OutOfTime as exc:
            self._record(sink)
            raise StepFailed(f"{name}: {exc}") from exc
        except TransportFailure as exc:
            self._record(sink)
            self.fail(f"{name}: no HTTP answer", str(exc))
        if not validated:
            sink += h.validate(case, response, h.checks.positive)
        self._record(sink)
        step = StepResult(name, op_id, "passed", response.status_code)
        if response.status_code not in expect:
            step.outcome = "failed"
            self._step(step)
            self.fail(
                f"{name}: expected {' or '.join(map(str, expect))}",
                f"{op.method} {op.path} answered {response.status_code}",
                response,
            )
        self._step(step)
        return response

    def optional(self, name: str, op_id: str, **kwargs: Any) -> httpx.Response | None:
        """A step the flow can do without: ``None`` when the server does not implement it."""
        try:
            return self.call(name, op_id, optional=True, **kwargs)
        except StepSkipped:
            return None

    def end(self, name: str, op_id: str, reference: str, bearer: str) -> None:
        """The 204 step that ends the resource ``{referenceNumber}`` names (close, revoke)."""
        self.call(name, op_id, path={"referenceNumber": reference}, bearer=bearer, expect=(204,))

    def _step(self, step: StepResult) -> None:
        steps = self.result.steps
        # Polling repeats a step: keep one line with a count.
        if steps and steps[-1].name == step.name and steps[-1].outcome == step.outcome:
            last = steps[-1]
            last.status = step.status
            count = int(last.reason.split("×")[0]) + 1 if last.reason.endswith("polls") else 2
            last.reason = f"{count}× polls"
            return
        steps.append(step)

    def _record(self, findings: list[Finding]) -> None:
        known = {f.key for f in self.result.failures}
        for finding in findings:
            if finding.key not in known:
                known.add(finding.key)
                self.result.failures.append(finding)

    def fail(self, title: str, message: str, response: httpx.Response | None = None) -> NoReturn:
        self.result.failures.append(
            Finding(
                check="stateful_link",
                title=title,
                message=message,
                operation=f"flow {self.result.name}",
                request=(
                    f"{response.request.method} {response.request.url}"
                    if response is not None
                    else ""
                ),
                status=response.status_code if response is not None else None,
                response=excerpt(response.text) if response is not None else "",
            )
        )
        raise StepFailed(title)

    def poll(
        self,
        name: str,
        op_id: str,
        done: Callable[[dict[str, Any]], bool],
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Repeat a status call until ``done(body)``, within the poll timeout and the budget."""
        h = self.harness
        limit = min(h.budget.poll_timeout, max(h.remaining(), 0.0))
        waited = 0.0
        while True:
            body = self.call(name, op_id, **kwargs).json()
            if done(body):
                return body  # type: ignore[no-any-return]
            if waited >= limit:
                self.fail(
                    f"{name}: still not final",
                    f"gave up after {waited:.1f} s; last answer: {excerpt(json.dumps(body), 300)}",
                )
            h.sleep(h.budget.poll_interval)
            waited += h.budget.poll_interval

    def server_now(self) -> Any:
        assert self.harness.server_time is not None
        return self.harness.server_time


def _not_set() -> Any:
    from schemathesis.core import NOT_SET

    return NOT_SET


def _fill(template: str, values: dict[str, str]) -> str:
    from urllib.parse import quote

    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path


# -- running ------------------------------------------------------------------------------------


def run_flow(harness: Harness, flow: Flow) -> FlowResult:
    result = FlowResult(name=flow.name, description=flow.description)
    missing = harness.not_implemented(flow.requires + flow.requires_for(harness))
    if missing:
        result.skipped = "needs " + ", ".join(missing) + " (not implemented per the registry)"
        return result
    if flow.name != AUTH.name and harness.tokens is None:
        result.skipped = "needs a login (no credentials, or the auth flow failed)"
        return result
    t0 = harness.monotonic()
    context = FlowContext(harness, result)
    try:
        flow.body(context)
    except (StepFailed, StepSkipped):
        pass
    except httpx.HTTPError as exc:
        result.failures.append(
            Finding("stateful_link", "Transport error", str(exc), f"flow {flow.name}")
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # An answer the next link cannot use (its shape is reported by the checks too).
        result.failures.append(
            Finding(
                "stateful_link",
                "Unusable answer",
                f"the flow could not read the answer of step "
                f"{result.steps[-1].name if result.steps else '?'}: {type(exc).__name__}: {exc}",
                f"flow {flow.name}",
            )
        )
    result.duration = harness.monotonic() - t0
    return result


# -- auth ------------------------------------------------------------------------------------


def _login_ops(harness: Harness) -> tuple[str, ...]:
    kind = harness.credentials.kind
    if kind == "ksef-token":
        return ("auth.ksef_token", "certificates.public_keys")
    if kind in ("xades", "self-signed"):
        return ("auth.xades_signature",)
    return ()


def _login(ctx: FlowContext, *, token: str | None = None) -> Tokens:
    """challenge → authenticate → poll status → redeem."""
    from ksefcontract.harness import Tokens

    h = ctx.harness
    credentials = h.credentials
    nip = credentials.nip or ""
    challenge = ctx.call("challenge", "auth.challenge").json()
    server_now = parse_datetime(challenge["timestamp"])
    h.server_time = server_now
    if token is not None or credentials.kind == "ksef-token":
        certificate = _public_key(ctx, "KsefTokenEncryption")
        body = {
            "challenge": challenge["challenge"],
            "contextIdentifier": {"type": "Nip", "value": nip},
            "encryptedToken": wire.encrypt_token(
                certificate, token or credentials.token or "", challenge["timestampMs"]
            ),
            "publicKeyId": certificate.public_key_id,
        }
        init = ctx.call(
            "authenticate (KSeF token)", "auth.ksef_token", json_body=body, expect=(202,)
        )
    else:
        signing = credentials.signing or personal_certificate(
            nip=nip, not_before=server_now - timedelta(days=1)
        )
        xml = auth_token_request(challenge["challenge"], "Nip", nip)
        signed = sign_auth_token_request(xml, signing, signing_time=server_now)
        init = ctx.call(
            "authenticate (XAdES)",
            "auth.xades_signature",
            content=signed,
            media_type="application/xml",
            expect=(202,),
        )
    started = init.json()
    reference = started["referenceNumber"]
    operation_token = started["authenticationToken"]["token"]
    status = ctx.poll(
        "status",
        "auth.status",
        lambda body: body.get("status", {}).get("code") != 100,
        path={"referenceNumber": reference},
        bearer=operation_token,
    )
    if status["status"]["code"] != 200:
        ctx.fail(
            "authentication did not succeed",
            f"status {status['status']}",
        )
    tokens = ctx.call("redeem", "auth.redeem_token", bearer=operation_token).json()
    return Tokens(
        reference,
        operation_token,
        tokens["accessToken"]["token"],
        tokens["refreshToken"]["token"],
    )


def _auth_flow(ctx: FlowContext) -> None:
    h = ctx.harness
    tokens = _login(ctx)
    h.tokens = tokens
    refreshed = ctx.optional("refresh", "auth.refresh_token", bearer=tokens.refresh_token)
    if refreshed is not None:
        tokens.access_token = refreshed.json()["accessToken"]["token"]
    listed = ctx.optional("list sessions", "auth.list_sessions", bearer=tokens.access_token)
    if listed is not None and not any(
        s.get("referenceNumber") == tokens.reference_number for s in listed.json().get("items", [])
    ):
        ctx.fail(
            "list sessions: the current session is missing",
            f"{tokens.reference_number} not in the first page",
        )


def quiet_login(harness: Harness, result: FlowResult) -> Tokens | None:
    """A second login whose findings are dropped (its steps were checked by ``auth``)."""
    if harness.credentials.kind == "none" or harness.not_implemented(
        AUTH.requires + _login_ops(harness)
    ):
        return None
    try:
        return _login(FlowContext(harness, result))
    except (StepFailed, StepSkipped, httpx.HTTPError, KeyError, TypeError, ValueError):
        return None


def _auth_body(ctx: FlowContext) -> None:
    if ctx.harness.credentials.kind == "none":
        ctx.result.skipped = "no credentials given"
        raise StepSkipped("no credentials")
    _auth_flow(ctx)


AUTH = Flow(
    "auth",
    "challenge → authenticate → status → redeem → refresh → list sessions",
    ("auth.challenge", "auth.status", "auth.redeem_token"),
    _auth_body,
    _login_ops,
)


# -- KSeF token lifecycle --------------------------------------------------------------------------


def _token_flow(ctx: FlowContext) -> None:
    h = ctx.harness
    assert h.tokens is not None
    access = h.tokens.access_token
    created = ctx.call(
        "generate token",
        "tokens.generate",
        json_body={"permissions": ["InvoiceRead"], "description": "mockksef contract harness"},
        bearer=access,
        expect=(202,),
    ).json()
    reference = created["referenceNumber"]
    status = ctx.poll(
        "token status",
        "tokens.get",
        lambda body: body.get("status") not in ("Pending",),
        path={"referenceNumber": reference},
        bearer=access,
    )
    if status.get("status") != "Active":
        ctx.fail("token did not become Active", f"status {status.get('status')!r}")
    try:
        _login(ctx, token=created["token"])
    finally:
        ctx.end("revoke token", "tokens.revoke", reference, access)


TOKEN = Flow(
    "ksef-token",
    "generate a KSeF token → poll until Active → log in with it → revoke it",
    (
        "tokens.generate",
        "tokens.get",
        "tokens.revoke",
        "auth.challenge",
        "auth.ksef_token",
        "auth.status",
        "auth.redeem_token",
        "certificates.public_keys",
    ),
    _token_flow,
)


# -- online session ---------------------------------------------------------------------------------

_FINAL_INVOICE = lambda body: body.get("status", {}).get("code") not in (100, 150)  # noqa: E731
_FINAL_SESSION = lambda body: body.get("status", {}).get("code") not in (100, 150, 170)  # noqa: E731


def _public_key(ctx: FlowContext, usage: str) -> PublicKeyCertificate:
    listing = ctx.call("public keys", "certificates.public_keys").json()
    chosen = wire.public_key(listing, usage, ctx.harness.server_time)
    if chosen is None:
        ctx.fail("public keys", f"no certificate with usage {usage}")
    return chosen


def _download_link(ctx: FlowContext, name: str, url: str | None) -> None:
    """GET a pre-signed link, only on the target's own origin (never another host)."""
    h = ctx.harness
    if not url:
        ctx.result.steps.append(StepResult(name, "link", "skipped", reason="no link in the answer"))
        return
    target, link = urlsplit(h.base_url), urlsplit(url)
    if (link.scheme, link.netloc) != (target.scheme, target.netloc):
        ctx.result.steps.append(
            StepResult(name, "link", "skipped", reason=f"link on another host ({link.netloc})")
        )
        return
    response = h.client.get(url)
    step = StepResult(name, "link", "passed", response.status_code)
    problems = []
    if response.status_code != 200:
        problems.append(f"answered {response.status_code}")
    else:
        digest = wire.sha256_b64(response.content)
        if response.headers.get("x-ms-meta-hash") != digest:
            problems.append(
                f"x-ms-meta-hash {response.headers.get('x-ms-meta-hash')!r} ≠ {digest!r}"
            )
        if h.documents is not None:
            problems += [p.message for p in h.documents.validate(response.content)]
    ctx.result.steps.append(step)
    if problems:
        step.outcome = "failed"
        ctx.fail(f"{name}: pre-signed link", "; ".join(problems), response)


def _online_flow(ctx: FlowContext) -> None:
    h = ctx.harness
    assert h.tokens is not None and h.spec.source is not None
    access = h.tokens.access_token
    nip = h.credentials.nip or ""
    key = SymmetricKey.generate()
    opened = ctx.call(
        "open session",
        "sessions.open_online",
        json_body={
            "formCode": FA3.to_json(),
            "encryption": key.encryption_info(_public_key(ctx, "SymmetricKeyEncryption")),
        },
        bearer=access,
        expect=(201,),
    ).json()
    session = opened["referenceNumber"]
    now = ctx.server_now()
    # Unique per run: KSeF rejects a second invoice with the same seller and number (440).
    number = f"MOCKKSEF-{os.urandom(6).hex().upper()}"
    invoice = wire.sample_invoice(h.spec.source.parent, nip, number, now.date().isoformat())
    sent = ctx.call(
        "send invoice",
        "sessions.send_invoice",
        path={"referenceNumber": session},
        json_body=wire.invoice_body(key, invoice, offlineMode=False),
        bearer=access,
        expect=(202,),
    ).json()
    invoice_ref = sent["referenceNumber"]
    refs = {"referenceNumber": session, "invoiceReferenceNumber": invoice_ref}
    status = ctx.poll(
        "invoice status", "sessions.invoice_status", _FINAL_INVOICE, path=refs, bearer=access
    )
    if status["status"]["code"] != 200:
        ctx.fail("the sample FA(3) invoice was not accepted", f"status {status['status']}")
    ksef_number = status["ksefNumber"]
    if status.get("invoiceHash") != wire.sha256_b64(invoice):
        ctx.fail("invoice status: invoiceHash", "is not the hash that was sent")
    ctx.data.update(ksef_number=ksef_number, invoice=invoice)
    h.shared["invoice"] = {"ksefNumber": ksef_number, "content": invoice, "sent": now}
    for name, op_id, path in (
        ("invoice UPO", "sessions.invoice_upo", refs),
        (
            "invoice UPO by KSeF number",
            "sessions.invoice_upo_by_ksef",
            {"referenceNumber": session, "ksefNumber": ksef_number},
        ),
    ):
        ctx.optional(name, op_id, path=path, bearer=access)
    _download_link(ctx, "invoice UPO link", status.get("upoDownloadUrl"))
    ctx.end("close session", "sessions.close_online", session, access)
    final = ctx.poll(
        "session status",
        "sessions.status",
        _FINAL_SESSION,
        path={"referenceNumber": session},
        bearer=access,
    )
    if final["status"]["code"] != 200:
        ctx.fail("session did not finish with 200", f"status {final['status']}")
    pages = (final.get("upo") or {}).get("pages") or []
    if not pages:
        ctx.fail("session status: no UPO pages", "a processed session lists its UPO pages")
    ctx.optional(
        "session UPO",
        "sessions.session_upo",
        path={"referenceNumber": session, "upoReferenceNumber": pages[0]["referenceNumber"]},
        bearer=access,
    )
    _download_link(ctx, "session UPO link", pages[0].get("downloadUrl"))
    listed = ctx.optional(
        "session invoices", "sessions.invoices", path={"referenceNumber": session}, bearer=access
    )
    if listed is not None and not any(
        i.get("referenceNumber") == invoice_ref for i in listed.json().get("invoices", [])
    ):
        ctx.fail("session invoices: the invoice is missing", f"{invoice_ref} not listed")


ONLINE = Flow(
    "online-session",
    "open an encrypted online session → send FA(3) → status → UPOs → close → session UPO",
    (
        "certificates.public_keys",
        "sessions.open_online",
        "sessions.send_invoice",
        "sessions.invoice_status",
        "sessions.close_online",
        "sessions.status",
    ),
    _online_flow,
)


# -- query -> download --------------------------------------------------------------------------------


def _query_flow(ctx: FlowContext) -> None:
    h = ctx.harness
    assert h.tokens is not None
    invoice = h.shared.get("invoice")
    if invoice is None:
        ctx.result.skipped = "the online-session flow produced no invoice to look for"
        raise StepSkipped("no invoice")
    access = h.tokens.access_token
    since = invoice["sent"] - timedelta(hours=1)
    body = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Invoicing", "from": format_datetime(since)},
        "ksefNumber": invoice["ksefNumber"],
    }
    found = ctx.poll(
        "query metadata",
        "invoices.query_metadata",
        lambda page: any(
            i.get("ksefNumber") == invoice["ksefNumber"] for i in page.get("invoices", [])
        ),
        query={"pageSize": 10},
        json_body=body,
        bearer=access,
    )
    meta = next(i for i in found["invoices"] if i["ksefNumber"] == invoice["ksefNumber"])
    downloaded = ctx.call(
        "download", "invoices.download", path={"ksefNumber": invoice["ksefNumber"]}, bearer=access
    )
    if downloaded.content != invoice["content"]:
        ctx.fail(
            "download: not the bytes that were sent",
            "GET /invoices/ksef/{ksefNumber} must return the invoice exactly as submitted",
            downloaded,
        )
    if meta.get("invoiceHash") != wire.sha256_b64(invoice["content"]):
        ctx.fail("query metadata: invoiceHash", "is not the hash of the invoice sent", downloaded)


QUERY = Flow(
    "query-download",
    "query the metadata of the invoice sent → download it",
    (
        "invoices.query_metadata",
        "invoices.download",
        "sessions.open_online",
        "sessions.send_invoice",
    ),
    _query_flow,
)

# The order matters: query-download looks for the invoice online-session sent.
FLOWS: tuple[Flow, ...] = (TOKEN, ONLINE, QUERY)
