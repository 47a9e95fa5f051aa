"""The three KSeF environments and what differs between them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Env(StrEnum):
    TEST = "test"
    DEMO = "demo"
    PROD = "prod"

    @classmethod
    def parse(cls, value: str) -> Env:
        aliases = {"te": "test", "tr": "demo", "prd": "prod", "production": "prod"}
        key = value.strip().lower()
        return cls(aliases.get(key, key))


# The official API lives under /v2 (and /api/v2), either on the environment's own
# host or behind an environment segment that picks it instead (/demo/v2/...).
API_ROOTS = ("/v2", "/api/v2")
# group 1: the environment segment (or None); group 2: the API path (None for the root).
API_PATH = re.compile(rf"^(?:/({'|'.join(Env)}))?(?:/api)?/v2(/.*)?\Z", re.DOTALL)


def api_prefixes(env: Env | None = None) -> tuple[str, ...]:
    """Where the API is mounted: on the plain roots, or behind ``env``'s segment."""
    return API_ROOTS if env is None else tuple(f"/{env.value}{root}" for root in API_ROOTS)


@dataclass(frozen=True)
class EnvProfile:
    env: Env
    host: str
    legacy_host: str
    issuer: str
    accepts_self_signed: bool
    testdata: bool
    accepts_fa2: bool
    validates_nip_checksums: bool
    upo_receiver_name: str

    @property
    def base_url(self) -> str:
        return f"https://{self.host}/v2"


PROFILES: dict[Env, EnvProfile] = {
    Env.TEST: EnvProfile(
        Env.TEST,
        "api-test.ksef.mf.gov.pl",
        "ksef-test.mf.gov.pl",
        "ksef-api-te",
        accepts_self_signed=True,
        testdata=True,
        accepts_fa2=True,
        validates_nip_checksums=False,
        upo_receiver_name="Ministerstwo Finansów - środowisko testowe (TE)",
    ),
    Env.DEMO: EnvProfile(
        Env.DEMO,
        "api-demo.ksef.mf.gov.pl",
        "ksef-demo.mf.gov.pl",
        "ksef-api-tr",
        accepts_self_signed=False,
        testdata=False,
        accepts_fa2=False,
        validates_nip_checksums=False,
        upo_receiver_name="Ministerstwo Finansów - środowisko przedprodukcyjne (TR)",
    ),
    Env.PROD: EnvProfile(
        Env.PROD,
        "api.ksef.mf.gov.pl",
        "ksef.mf.gov.pl",
        "ksef-api-prd",
        accepts_self_signed=False,
        testdata=False,
        accepts_fa2=False,
        validates_nip_checksums=True,
        upo_receiver_name="Ministerstwo Finansów",
    ),
}

HOSTS: dict[str, Env] = {}
for _profile in PROFILES.values():
    HOSTS[_profile.host] = _profile.env
    HOSTS[_profile.legacy_host] = _profile.env


def env_for_host(host_header: str | None) -> Env | None:
    if not host_header:
        return None
    host = host_header.strip().lower().rsplit("@", 1)[-1]
    if host.startswith("["):
        return None
    host = host.split(":", 1)[0]
    return HOSTS.get(host)
