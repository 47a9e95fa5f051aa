"""KSeF environments by name, their official base URLs and what tells them apart."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ksefclient._exceptions import KsefConfigurationError

__all__ = [
    "DEMO",
    "ENVIRONMENTS",
    "Environment",
    "PROD",
    "TEST",
    "environment_of_issuer",
    "resolve_environment",
]


@dataclass(frozen=True)
class Environment:
    """A KSeF environment: ``test`` (TE), ``demo`` (TR), ``prod`` or a custom URL.

    ``jwt_issuers`` are the ``iss`` values of the JWTs the environment issues
    (observed on TEST; assumed for the others), used to refuse a DEMO token on
    PROD and the like. ``accepts_self_signed`` says whether self-signed XAdES
    certificates authenticate there (TEST only).
    """

    name: str
    base_url: str
    jwt_issuers: tuple[str, ...] = ()
    accepts_self_signed: bool | None = None

    def with_base_url(self, base_url: str) -> Environment:
        return Environment(
            self.name, base_url.rstrip("/"), self.jwt_issuers, self.accepts_self_signed
        )


TEST = Environment(
    "test", "https://api-test.ksef.mf.gov.pl/v2", ("ksef-api-te", "ksef-api-ti"), True
)
DEMO = Environment("demo", "https://api-demo.ksef.mf.gov.pl/v2", ("ksef-api-tr",), False)
PROD = Environment("prod", "https://api.ksef.mf.gov.pl/v2", ("ksef-api-prd",), False)

ENVIRONMENTS: dict[str, Environment] = {"test": TEST, "demo": DEMO, "prod": PROD}
_ALIASES = {"te": "test", "tr": "demo", "prd": "prod", "production": "prod"}
# Hosts before release RC6.1 (with the /api/v2 prefix); still in old configurations.
_LEGACY_HOSTS = {
    "ksef-test.mf.gov.pl": "test",
    "ksef-demo.mf.gov.pl": "demo",
    "ksef.mf.gov.pl": "prod",
}


def environment_of_issuer(issuer: str | None) -> Environment | None:
    for env in ENVIRONMENTS.values():
        if issuer in env.jwt_issuers:
            return env
    return None


def _by_host(base_url: str) -> Environment | None:
    host = (urlsplit(base_url).hostname or "").lower()
    for env in ENVIRONMENTS.values():
        if urlsplit(env.base_url).hostname == host:
            return env
    name = _LEGACY_HOSTS.get(host)
    return ENVIRONMENTS[name] if name else None


def resolve_environment(
    environment: str | Environment | None, base_url: str | None = None
) -> Environment:
    """The environment to talk to.

    ``environment`` names one of ``test``, ``demo``, ``prod`` (aliases ``te``,
    ``tr``, ``prd``); ``base_url`` overrides its URL (a mock, a proxy). With a
    base URL alone, an official host tells the environment, anything else is
    ``custom`` (no environment-specific checks).
    """
    if isinstance(environment, Environment):
        env = environment
    elif environment is not None:
        key = environment.strip().lower()
        key = _ALIASES.get(key, key)
        if key not in ENVIRONMENTS:
            raise KsefConfigurationError(
                f"unknown KSeF environment {environment!r}; use 'test', 'demo' or 'prod' "
                "(or pass base_url=...)"
            )
        env = ENVIRONMENTS[key]
    elif base_url is not None:
        env = _by_host(base_url) or Environment("custom", base_url)
    else:
        env = TEST
    if base_url is not None:
        parsed = urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise KsefConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
        known = _by_host(base_url)
        if known is not None and known.name != env.name and env.name != "custom":
            raise KsefConfigurationError(
                f"base_url {base_url} is the {known.name.upper()} environment, "
                f"but environment={env.name!r} was configured"
            )
        env = env.with_base_url(base_url)
    return env
