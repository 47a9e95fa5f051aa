"""``BaseKsefClient``: the configuration, checked once, and every public operation, declared once.

The protocol lives in ``_core.py`` (the exchange, retries, tokens, keys),
``_responses.py`` (answers and error mapping), ``_auth.py`` (the
authentication flow) and ``_areas/`` (one module per API area). They build
*flows*, never doing I/O. Each public method is one line here,
``send_batch = Operation(batch.send_batch)``: :class:`~ksefclient.KsefClient`
runs the flow and returns its result, :class:`~ksefclient.AsyncKsefClient`
returns a coroutine. Name, parameters and docstring come from the flow, so the
two clients cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import time
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from ksefclient import _auth
from ksefclient._areas import (
    auth,
    batch,
    exports,
    imports,
    invoices,
    limits,
    online,
    permissions,
    sessions,
)
from ksefclient._areas import tokens as ksef_tokens  # "tokens" is a property of the clients
from ksefclient._auth import AuthTokens, Credentials, KsefTokenCredentials
from ksefclient._core import Flow, ProtocolCore, RetryPolicy
from ksefclient._environments import Environment, resolve_environment
from ksefclient._exceptions import KsefConfigurationError
from ksefclient._models import ContextIdentifier

if TYPE_CHECKING:
    from ksefclient._async import AsyncKsefClient
    from ksefclient._sync import KsefClient

__all__ = ["BaseKsefClient", "Operation"]

P = ParamSpec("P")
R = TypeVar("R")


class Operation(Generic[P, R]):
    """A public method of both clients: an area's flow, which each client runs its own way.

    On a :class:`~ksefclient.KsefClient` it is a method returning the flow's
    result; on an :class:`~ksefclient.AsyncKsefClient`, a coroutine method. Its
    parameters are the flow's after the core.
    """

    def __init__(self, flow: Callable[Concatenate[ProtocolCore, P], Flow[R]]) -> None:
        self.flow = flow
        self.__name__ = flow.__name__
        self.__qualname__ = flow.__qualname__
        self.__doc__ = flow.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if name != self.__name__:
            raise TypeError(f"{owner.__name__}.{name} must be named as its flow {self.__name__}")
        self.__qualname__ = f"{owner.__qualname__}.{name}"

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        """The flow's signature as a method's: ``self`` for the core, the flow's result."""
        signature = inspect.signature(self.flow)
        hints = typing.get_type_hints(self.flow)
        _core, *parameters = signature.parameters.values()
        return signature.replace(
            parameters=[
                inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                *(p.replace(annotation=hints.get(p.name, p.annotation)) for p in parameters),
            ],
            # Flow[R] is Generator[Effect, Any, R].
            return_annotation=typing.get_args(hints["return"])[2],
        )

    @functools.cached_property
    def bound_signature(self) -> inspect.Signature:
        _self, *parameters = self.__signature__.parameters.values()
        return self.__signature__.replace(parameters=parameters)

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: KsefClient, owner: type[Any]) -> Callable[P, R]: ...
    @overload
    def __get__(
        self, client: AsyncKsefClient, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, client: BaseKsefClient | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        method = client._bind(self.flow)
        method.__name__ = self.__name__
        method.__qualname__ = f"{type(client).__qualname__}.{self.__name__}"
        method.__doc__ = self.__doc__
        # What inspect.signature() (help(), IDEs at run time) shows instead of (*args, **kwargs).
        method.__dict__["__signature__"] = self.bound_signature
        return method

    def __call__(self, client: BaseKsefClient, *args: P.args, **kwargs: P.kwargs) -> Any:
        """``KsefClient.send_batch(client, ...)``, as with any method."""
        return client._bind(self.flow)(*args, **kwargs)


class BaseKsefClient(ABC):
    """Configuration, token state and every operation; subclasses only run flows (I/O)."""

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        base_url: str | None = None,
        nip: str | None = None,
        context: ContextIdentifier | None = None,
        credentials: Credentials | None = None,
        tokens: AuthTokens | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        refresh_margin: float = 60.0,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 30.0,
    ) -> None:
        resolved = resolve_environment(environment, base_url)
        chosen = _resolve_context(nip, context, credentials)
        _auth.check_credentials(credentials, chosen, resolved)
        core = ProtocolCore(
            resolved,
            chosen,
            credentials,
            retry=retry or RetryPolicy(),
            clock=clock or time.time,
            refresh_margin=refresh_margin,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            headers=headers,
        )
        self._core = core
        if tokens is not None:
            self.resume(tokens)

    # -- configuration and state ---------------------------------------------------------

    @property
    def environment(self) -> Environment:
        """Fixed at construction: credentials and tokens were checked against it."""
        return self._core.environment

    @property
    def context(self) -> ContextIdentifier:
        """Fixed at construction: credentials and tokens were checked against it."""
        return self._core.context

    @property
    def credentials(self) -> Credentials | None:
        return self._core.credentials

    @credentials.setter
    def credentials(self, credentials: Credentials | None) -> None:
        _auth.check_credentials(credentials, self.context, self.environment)
        self._core.credentials = credentials

    @property
    def retry(self) -> RetryPolicy:
        return self._core.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._core.retry = policy

    @property
    def refresh_margin(self) -> float:
        """Seconds before expiry at which a token counts as expired (renewed beforehand)."""
        return self._core.refresh_margin

    @refresh_margin.setter
    def refresh_margin(self, seconds: float) -> None:
        self._core.refresh_margin = seconds

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def server_time(self) -> datetime:
        """KSeF's time: this machine's clock corrected by the last challenge's timestamp."""
        return self._core.now()

    @property
    def tokens(self) -> AuthTokens | None:
        """The current tokens (persist ``tokens.to_json()`` to resume without re-authenticating)."""
        return self._core.tokens

    def resume(self, tokens: AuthTokens | Mapping[str, Any]) -> None:
        """Use tokens saved earlier; refused if they belong to another context or environment."""
        self._core.resume(tokens)

    def forget_tokens(self) -> None:
        self._core.tokens = None

    # -- running flows (the subclasses' I/O) ----------------------------------------------

    @abstractmethod
    def _bind(self, flow: Callable[Concatenate[ProtocolCore, P], Flow[R]]) -> Callable[P, Any]:
        """A callable that runs ``flow`` over this client's core: blocking or a coroutine."""

    # -- the operations, by area -------------------------------------------------------------

    # Authentication (the core's, as every call may need it) and authentication sessions.
    authenticate = Operation(ProtocolCore.authenticate)
    refresh = Operation(ProtocolCore.refresh)
    list_auth_sessions = Operation(auth.list_auth_sessions)
    revoke_auth_session = Operation(auth.revoke_auth_session)
    public_keys = Operation(ProtocolCore.public_keys)

    # Online and batch sessions; what they share: statuses, invoices, UPO.
    open_online_session = Operation(online.open_online_session)
    send_invoice = Operation(online.send_invoice)
    close_online_session = Operation(online.close_online_session)
    send_invoices = Operation(online.send_invoices)
    send_batch = Operation(batch.send_batch)
    session_status = Operation(sessions.session_status)
    wait_for_session = Operation(sessions.wait_for_session)
    list_sessions = Operation(sessions.list_sessions)
    session_invoices = Operation(sessions.session_invoices)
    invoice_status = Operation(sessions.invoice_status)
    wait_for_invoice = Operation(sessions.wait_for_invoice)
    invoice_upo = Operation(sessions.invoice_upo)
    session_upo = Operation(sessions.session_upo)

    # Invoices, the import modes, exports.
    download_invoice = Operation(invoices.download_invoice)
    query_invoice_metadata = Operation(invoices.query_invoice_metadata)
    import_new = Operation(imports.import_new)
    import_period = Operation(imports.import_period)
    export_invoices = Operation(exports.export_invoices)
    export_status = Operation(exports.export_status)

    # KSeF tokens, limits, permissions.
    generate_token = Operation(ksef_tokens.generate_token)
    get_token = Operation(ksef_tokens.get_token)
    list_tokens = Operation(ksef_tokens.list_tokens)
    revoke_token = Operation(ksef_tokens.revoke_token)
    context_limits = Operation(limits.context_limits)
    subject_limits = Operation(limits.subject_limits)
    rate_limits = Operation(limits.rate_limits)
    grant_person_permissions = Operation(permissions.grant_person_permissions)
    query_personal_permissions = Operation(permissions.query_personal_permissions)
    revoke_permission = Operation(permissions.revoke_permission)


def _resolve_context(
    nip: str | None, context: ContextIdentifier | None, credentials: Credentials | None
) -> ContextIdentifier:
    if nip is not None and context is not None and context != ContextIdentifier.nip(nip):
        raise KsefConfigurationError("give nip or context, not two different ones")
    if context is not None:
        return context
    if nip is not None:
        value = nip.strip().replace("-", "")
        if not (len(value) == 10 and value.isdigit()):
            raise KsefConfigurationError(f"a NIP has 10 digits, got {nip!r}")
        return ContextIdentifier.nip(value)
    if isinstance(credentials, KsefTokenCredentials):
        return credentials.context
    raise KsefConfigurationError(
        "configure the context to work in: nip='1234567890' or context=ContextIdentifier(...)"
    )
