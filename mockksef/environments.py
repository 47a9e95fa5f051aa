"""The three KSeF environments and what differs between them."""

from __future__ import annotations

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
