"""``KsefClient``: runs the protocol's flows with ``httpx.Client`` and ``time.sleep``.

Only I/O lives here; every method is one line handing a flow of
:class:`~ksefclient._base.BaseKsefClient` to :meth:`KsefClient._run`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx

from ksefclient._auth import AuthTokens
from ksefclient._base import BaseKsefClient, Flow, Sleep
from ksefclient._crypto import MAX_BATCH_PART_BYTES, PublicKeyCertificate
from ksefclient._environments import Environment
from ksefclient._exceptions import KsefError
from ksefclient._models import (
    FA3,
    AuthenticationStatus,
    Checkpoint,
    ContextIdentifier,
    ContextLimits,
    ExportResult,
    ExportStatus,
    FormCode,
    GeneratedToken,
    ImportedInvoice,
    ImportResult,
    InvoiceQueryFilters,
    KsefTokenInfo,
    MetadataPage,
    OnlineSession,
    PersonalPermission,
    RateLimits,
    SentInvoice,
    SessionInvoice,
    SessionResult,
    SessionStatus,
    SessionSummary,
    SubjectLimits,
)

T = TypeVar("T")


class KsefClient(BaseKsefClient):
    """Synchronous KSeF client.

    ``KsefClient("test", nip="5265877635", credentials=KsefTokenCredentials(token))``
    talks to KSeF TEST; ``base_url=`` points it elsewhere (the mock). Pass your
    own ``http_client`` (any ``httpx.Client``, e.g. Starlette's ``TestClient``)
    and ``sleep`` (e.g. one that moves a virtual clock) for tests.
    """

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(environment, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self._timeout)
        self._sleep = sleep or time.sleep

    # -- I/O ------------------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = flow.throw(error) if error is not None else flow.send(value)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                value, error = None, None
                if isinstance(effect, Sleep):
                    if effect.seconds > 0:
                        self._sleep(effect.seconds)
                    continue
                try:
                    value = self._http.send(effect.request)
                except (httpx.HTTPError, OSError) as exc:
                    # OSError: custom transports (in-process ASGI apps) may raise it raw.
                    error = exc
        finally:
            flow.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> KsefClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- authentication -----------------------------------------------------------------------

    def authenticate(self) -> AuthTokens:
        """Authenticate now (otherwise the first call does it)."""
        return self._run(self._authenticate())

    def refresh(self) -> AuthTokens:
        """A new access token from the refresh token (or a new authentication)."""
        return self._run(self._refresh())

    def list_auth_sessions(self) -> list[AuthenticationStatus]:
        return self._run(self._list_auth_sessions())

    def revoke_auth_session(self, reference_number: str | None = None) -> None:
        """Revoke an authentication session; the current one by default."""
        return self._run(self._revoke_auth_session(reference_number))

    def public_keys(self, refresh: bool = False) -> list[PublicKeyCertificate]:
        return self._run(self._public_keys(force=refresh))

    # -- online sessions ------------------------------------------------------------------------

    def open_online_session(self, form_code: FormCode = FA3) -> OnlineSession:
        return self._run(self._open_online_session(form_code))

    def send_invoice(
        self,
        session: OnlineSession,
        xml: bytes,
        *,
        offline_mode: bool = False,
        hash_of_corrected_invoice: str | None = None,
    ) -> SentInvoice:
        """Send one invoice (never twice in one session, whatever the network does)."""
        return self._run(
            self._send_invoice(
                session,
                xml,
                offline_mode=offline_mode,
                hash_of_corrected_invoice=hash_of_corrected_invoice,
            )
        )

    def close_online_session(self, session: OnlineSession) -> None:
        return self._run(self._close_online_session(session))

    @contextlib.contextmanager
    def online_session(self, form_code: FormCode = FA3) -> Iterator[OnlineSession]:
        """Open a session for the ``with`` block and close it afterwards."""
        session = self.open_online_session(form_code)
        try:
            yield session
        except BaseException:
            if not session.closed:
                with contextlib.suppress(KsefError):
                    self.close_online_session(session)
            raise
        if not session.closed:
            self.close_online_session(session)

    def send_invoices(
        self,
        invoices: Iterable[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        timeout: float | None = None,
    ) -> SessionResult:
        """Open, send all, close, wait: the session and its invoices in the order given."""
        return self._run(
            self._send_invoices(invoices, form_code, offline_mode=offline_mode, timeout=timeout)
        )

    def send_batch(
        self,
        invoices: Mapping[str, bytes] | Sequence[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        part_size: int = MAX_BATCH_PART_BYTES,
        timeout: float | None = None,
    ) -> SessionResult:
        """Send a batch session (ZIP, encrypted parts) and wait for its processing."""
        return self._run(
            self._send_batch(
                invoices, form_code, offline_mode=offline_mode, part_size=part_size, timeout=timeout
            )
        )

    def session_status(self, reference_number: str) -> SessionStatus:
        return self._run(self._session_status(reference_number))

    def wait_for_session(
        self, reference_number: str, timeout: float | None = None
    ) -> SessionStatus:
        return self._run(self._wait_for_session(reference_number, timeout))

    def list_sessions(
        self, session_type: str = "Online", statuses: Sequence[str] | None = None
    ) -> list[SessionSummary]:
        return self._run(self._list_sessions(session_type, statuses))

    def session_invoices(
        self, reference_number: str, *, failed: bool = False
    ) -> list[SessionInvoice]:
        return self._run(self._session_invoices(reference_number, failed))

    def invoice_status(self, session_reference: str, invoice_reference: str) -> SessionInvoice:
        return self._run(self._invoice_status(session_reference, invoice_reference))

    def wait_for_invoice(
        self, session_reference: str, invoice_reference: str, timeout: float | None = None
    ) -> SessionInvoice:
        return self._run(self._wait_for_invoice(session_reference, invoice_reference, timeout))

    def invoice_upo(
        self,
        session_reference: str,
        *,
        ksef_number: str | None = None,
        invoice_reference: str | None = None,
    ) -> bytes:
        """The UPO of one accepted invoice (XML bytes)."""
        return self._run(
            self._invoice_upo(
                session_reference, ksef_number=ksef_number, invoice_reference=invoice_reference
            )
        )

    def session_upo(self, session_reference: str, upo_reference: str | None = None) -> list[bytes]:
        """The session's collective UPO pages (XML bytes)."""
        return self._run(self._session_upo(session_reference, upo_reference))

    # -- invoices and exports --------------------------------------------------------------------

    def download_invoice(self, ksef_number: str) -> bytes:
        """One invoice by KSeF number: the original XML, hash-checked."""
        return self._run(self._download_invoice(ksef_number))

    def query_invoice_metadata(
        self,
        filters: InvoiceQueryFilters,
        *,
        page_offset: int = 0,
        page_size: int = 100,
        sort_order: str = "Asc",
    ) -> MetadataPage:
        return self._run(
            self._query_metadata(
                filters, page_offset=page_offset, page_size=page_size, sort_order=sort_order
            )
        )

    def import_new(
        self, checkpoint: Checkpoint, *, fetch_xml: bool = True, use_export: bool = False
    ) -> ImportResult:
        """Every invoice stored since ``checkpoint``, exactly once; persist ``result.checkpoint``."""
        if use_export:
            return self._run(self._import_new_by_export(checkpoint))
        return self._run(self._import_new(checkpoint, fetch_xml=fetch_xml))

    def import_period(
        self,
        date_from: datetime,
        date_to: datetime | None = None,
        *,
        subject_type: str = "Subject1",
        date_type: str = "Issue",
        fetch_xml: bool = True,
    ) -> list[ImportedInvoice]:
        """Every invoice of a period (any length: queried in 90-day windows)."""
        return self._run(
            self._import_period(
                date_from,
                date_to,
                subject_type=subject_type,
                date_type=date_type,
                fetch_xml=fetch_xml,
            )
        )

    def export_invoices(
        self,
        filters: InvoiceQueryFilters,
        *,
        only_metadata: bool = False,
        compression: str = "Zip",
        timeout: float | None = None,
    ) -> ExportResult:
        """Export, wait, download, decrypt and unpack."""
        return self._run(
            self._export_invoices(
                filters, only_metadata=only_metadata, compression=compression, timeout=timeout
            )
        )

    def export_status(self, reference_number: str) -> ExportStatus:
        return self._run(self._export_status(reference_number))

    # -- KSeF tokens -------------------------------------------------------------------------------

    def generate_token(
        self, permissions: Sequence[str], description: str, *, wait_active: bool = True
    ) -> GeneratedToken:
        """A new KSeF token (shown once); by default waits until it is Active."""
        return self._run(self._generate_token(permissions, description, wait_active=wait_active))

    def get_token(self, reference_number: str) -> KsefTokenInfo:
        return self._run(self._get_token(reference_number))

    def list_tokens(
        self, statuses: Sequence[str] | None = None, description: str | None = None
    ) -> list[KsefTokenInfo]:
        return self._run(self._list_tokens(statuses, description))

    def revoke_token(self, reference_number: str) -> None:
        return self._run(self._revoke_token(reference_number))

    # -- limits and permissions ----------------------------------------------------------------------

    def context_limits(self) -> ContextLimits:
        return self._run(self._context_limits())

    def subject_limits(self) -> SubjectLimits:
        return self._run(self._subject_limits())

    def rate_limits(self) -> RateLimits:
        return self._run(self._rate_limits())

    def grant_person_permissions(
        self,
        subject: ContextIdentifier,
        permissions: Sequence[str],
        description: str,
        *,
        wait: bool = True,
    ) -> str:
        return self._run(
            self._grant_person_permissions(subject, permissions, description, wait=wait)
        )

    def query_personal_permissions(self, **filters: Any) -> list[PersonalPermission]:
        return self._run(self._query_personal_permissions(**filters))

    def revoke_permission(self, permission_id: str, *, wait: bool = True) -> str:
        return self._run(self._revoke_permission(permission_id, wait=wait))
