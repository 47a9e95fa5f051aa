"""``AsyncKsefClient``: runs the protocol's flows with ``httpx.AsyncClient`` and ``asyncio.sleep``.

Only I/O lives here; the methods mirror :class:`~ksefclient.KsefClient` one for
one (a test keeps their signatures equal).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
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


class AsyncKsefClient(BaseKsefClient):
    """Asynchronous KSeF client (the same protocol as :class:`KsefClient`).

    Tasks may share one client: they share its tokens and key cache (two tasks
    that find the token expired at the same moment may both renew it, which is
    harmless).

    ``AsyncKsefClient("test", nip="5265877635", credentials=KsefTokenCredentials(token))``
    talks to KSeF TEST; ``base_url=`` points it elsewhere (the mock). Pass your
    own ``http_client`` (an ``httpx.AsyncClient``, e.g. over ``httpx.ASGITransport``)
    and ``sleep`` (e.g. one that moves a virtual clock) for tests.
    """

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(environment, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout)
        self._sleep = sleep or asyncio.sleep

    # -- I/O ------------------------------------------------------------------------------

    async def _run(self, flow: Flow[T]) -> T:
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
                        # A sync sleep (a test moving a virtual clock) or a coroutine one.
                        waited = self._sleep(effect.seconds)
                        if inspect.isawaitable(waited):
                            await waited
                    continue
                try:
                    value = await self._http.send(effect.request)
                except (httpx.HTTPError, OSError) as exc:
                    # OSError: custom transports (in-process ASGI apps) may raise it raw.
                    error = exc
        finally:
            flow.close()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncKsefClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- authentication -----------------------------------------------------------------------

    async def authenticate(self) -> AuthTokens:
        """Authenticate now (otherwise the first call does it)."""
        return await self._run(self._authenticate())

    async def refresh(self) -> AuthTokens:
        """A new access token from the refresh token (or a new authentication)."""
        return await self._run(self._refresh())

    async def list_auth_sessions(self) -> list[AuthenticationStatus]:
        return await self._run(self._list_auth_sessions())

    async def revoke_auth_session(self, reference_number: str | None = None) -> None:
        """Revoke an authentication session; the current one by default."""
        return await self._run(self._revoke_auth_session(reference_number))

    async def public_keys(self, refresh: bool = False) -> list[PublicKeyCertificate]:
        return await self._run(self._public_keys(force=refresh))

    # -- online sessions ------------------------------------------------------------------------

    async def open_online_session(self, form_code: FormCode = FA3) -> OnlineSession:
        return await self._run(self._open_online_session(form_code))

    async def send_invoice(
        self,
        session: OnlineSession,
        xml: bytes,
        *,
        offline_mode: bool = False,
        hash_of_corrected_invoice: str | None = None,
    ) -> SentInvoice:
        """Send one invoice (never twice in one session, whatever the network does)."""
        return await self._run(
            self._send_invoice(
                session,
                xml,
                offline_mode=offline_mode,
                hash_of_corrected_invoice=hash_of_corrected_invoice,
            )
        )

    async def close_online_session(self, session: OnlineSession) -> None:
        return await self._run(self._close_online_session(session))

    @contextlib.asynccontextmanager
    async def online_session(self, form_code: FormCode = FA3) -> AsyncIterator[OnlineSession]:
        """Open a session for the ``async with`` block and close it afterwards."""
        session = await self.open_online_session(form_code)
        try:
            yield session
        except BaseException:
            if not session.closed:
                with contextlib.suppress(KsefError):
                    await self.close_online_session(session)
            raise
        if not session.closed:
            await self.close_online_session(session)

    async def send_invoices(
        self,
        invoices: Iterable[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        timeout: float | None = None,
    ) -> SessionResult:
        """Open, send all, close, wait: the session and its invoices in the order given."""
        return await self._run(
            self._send_invoices(invoices, form_code, offline_mode=offline_mode, timeout=timeout)
        )

    async def send_batch(
        self,
        invoices: Mapping[str, bytes] | Sequence[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        part_size: int = MAX_BATCH_PART_BYTES,
        timeout: float | None = None,
    ) -> SessionResult:
        """Send a batch session (ZIP, encrypted parts) and wait for its processing."""
        return await self._run(
            self._send_batch(
                invoices, form_code, offline_mode=offline_mode, part_size=part_size, timeout=timeout
            )
        )

    async def session_status(self, reference_number: str) -> SessionStatus:
        return await self._run(self._session_status(reference_number))

    async def wait_for_session(
        self, reference_number: str, timeout: float | None = None
    ) -> SessionStatus:
        return await self._run(self._wait_for_session(reference_number, timeout))

    async def list_sessions(
        self, session_type: str = "Online", statuses: Sequence[str] | None = None
    ) -> list[SessionSummary]:
        return await self._run(self._list_sessions(session_type, statuses))

    async def session_invoices(
        self, reference_number: str, *, failed: bool = False
    ) -> list[SessionInvoice]:
        return await self._run(self._session_invoices(reference_number, failed))

    async def invoice_status(
        self, session_reference: str, invoice_reference: str
    ) -> SessionInvoice:
        return await self._run(self._invoice_status(session_reference, invoice_reference))

    async def wait_for_invoice(
        self, session_reference: str, invoice_reference: str, timeout: float | None = None
    ) -> SessionInvoice:
        return await self._run(
            self._wait_for_invoice(session_reference, invoice_reference, timeout)
        )

    async def invoice_upo(
        self,
        session_reference: str,
        *,
        ksef_number: str | None = None,
        invoice_reference: str | None = None,
    ) -> bytes:
        """The UPO of one accepted invoice (XML bytes)."""
        return await self._run(
            self._invoice_upo(
                session_reference, ksef_number=ksef_number, invoice_reference=invoice_reference
            )
        )

    async def session_upo(
        self, session_reference: str, upo_reference: str | None = None
    ) -> list[bytes]:
        """The session's collective UPO pages (XML bytes)."""
        return await self._run(self._session_upo(session_reference, upo_reference))

    # -- invoices and exports --------------------------------------------------------------------

    async def download_invoice(self, ksef_number: str) -> bytes:
        """One invoice by KSeF number: the original XML, hash-checked."""
        return await self._run(self._download_invoice(ksef_number))

    async def query_invoice_metadata(
        self,
        filters: InvoiceQueryFilters,
        *,
        page_offset: int = 0,
        page_size: int = 100,
        sort_order: str = "Asc",
    ) -> MetadataPage:
        return await self._run(
            self._query_metadata(
                filters, page_offset=page_offset, page_size=page_size, sort_order=sort_order
            )
        )

    async def import_new(
        self, checkpoint: Checkpoint, *, fetch_xml: bool = True, use_export: bool = False
    ) -> ImportResult:
        """Every invoice stored since ``checkpoint``, exactly once; persist ``result.checkpoint``."""
        if use_export:
            return await self._run(self._import_new_by_export(checkpoint))
        return await self._run(self._import_new(checkpoint, fetch_xml=fetch_xml))

    async def import_period(
        self,
        date_from: datetime,
        date_to: datetime | None = None,
        *,
        subject_type: str = "Subject1",
        date_type: str = "Issue",
        fetch_xml: bool = True,
    ) -> list[ImportedInvoice]:
        """Every invoice of a period (any length: queried in 90-day windows)."""
        return await self._run(
            self._import_period(
                date_from,
                date_to,
                subject_type=subject_type,
                date_type=date_type,
                fetch_xml=fetch_xml,
            )
        )

    async def export_invoices(
        self,
        filters: InvoiceQueryFilters,
        *,
        only_metadata: bool = False,
        compression: str = "Zip",
        timeout: float | None = None,
    ) -> ExportResult:
        """Export, wait, download, decrypt and unpack."""
        return await self._run(
            self._export_invoices(
                filters, only_metadata=only_metadata, compression=compression, timeout=timeout
            )
        )

    async def export_status(self, reference_number: str) -> ExportStatus:
        return await self._run(self._export_status(reference_number))

    # -- KSeF tokens -------------------------------------------------------------------------------

    async def generate_token(
        self, permissions: Sequence[str], description: str, *, wait_active: bool = True
    ) -> GeneratedToken:
        """A new KSeF token (shown once); by default waits until it is Active."""
        return await self._run(
            self._generate_token(permissions, description, wait_active=wait_active)
        )

    async def get_token(self, reference_number: str) -> KsefTokenInfo:
        return await self._run(self._get_token(reference_number))

    async def list_tokens(
        self, statuses: Sequence[str] | None = None, description: str | None = None
    ) -> list[KsefTokenInfo]:
        return await self._run(self._list_tokens(statuses, description))

    async def revoke_token(self, reference_number: str) -> None:
        return await self._run(self._revoke_token(reference_number))

    # -- limits and permissions ----------------------------------------------------------------------

    async def context_limits(self) -> ContextLimits:
        return await self._run(self._context_limits())

    async def subject_limits(self) -> SubjectLimits:
        return await self._run(self._subject_limits())

    async def rate_limits(self) -> RateLimits:
        return await self._run(self._rate_limits())

    async def grant_person_permissions(
        self,
        subject: ContextIdentifier,
        permissions: Sequence[str],
        description: str,
        *,
        wait: bool = True,
    ) -> str:
        return await self._run(
            self._grant_person_permissions(subject, permissions, description, wait=wait)
        )

    async def query_personal_permissions(self, **filters: Any) -> list[PersonalPermission]:
        return await self._run(self._query_personal_permissions(**filters))

    async def revoke_permission(self, permission_id: str, *, wait: bool = True) -> str:
        return await self._run(self._revoke_permission(permission_id, wait=wait))
