"""The state root: one ``EnvironmentState`` per environment, built in create_app.

Each environment has its own random stream, JWT secret, keys, data and limits;
identifiers come from the seed (replayable), secrets from the OS (never
derivable from the seed, which is printed and may be shared);
areas reach each other only through this root (``env.permissions``,
``env.tokens``…), never through another area's routes. ``reset()`` re-runs the
constructors: it is the one reset path (admin API, fixtures, scenarios).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from mockksef.clock import Clock, parse_datetime
from mockksef.config import MockConfig
from mockksef.environments import PROFILES, Env
from mockksef.events import EventBus, Sink
from mockksef.ids import RandomSource, fresh_seed, secret_bytes
from mockksef.jwts import JwtSigner
from mockksef.spec import Spec


class EnvironmentState:
    def __init__(self, root: MockState, env: Env, generation: int = 0) -> None:
        from mockksef.services.auth.backend import AuthBackend
        from mockksef.services.certificates.backend import CertificatesBackend
        from mockksef.services.certificates.keys import PublicKeysBackend
        from mockksef.services.collective.backend import CollectiveBackend
        from mockksef.services.invoices.backend import InvoicesBackend
        from mockksef.services.limits.backend import LimitsBackend
        from mockksef.services.peppol.backend import PeppolBackend
        from mockksef.services.permissions.backend import PermissionsBackend
        from mockksef.services.sessions.backend import SessionsBackend
        from mockksef.services.subjects import SubjectRegistry
        from mockksef.services.testdata.backend import TestdataBackend
        from mockksef.services.tokens.backend import TokensBackend

        self.root = root
        self.env = env
        self.generation = generation
        self.profile = PROFILES[env]
        self.config = root.config
        self.clock = root.clock
        self.rng = root.rng.child(f"{env.value}/{generation}")
        # Domain code reports what happened here (token.created, session.opened…).
        self.events = EventBus(env.value, root.event_sinks)
        # Not from self.rng: the seed is public, and a token forged offline from it
        # must fail. A rebuild (reset) draws anew, so earlier JWTs answer 401.
        self.jwt = JwtSigner(secret_bytes(32), self.profile.issuer, self.clock)
        self.subjects = SubjectRegistry(self)
        self.public_keys = PublicKeysBackend(self)
        self.certificates = CertificatesBackend(self)
        self.permissions = PermissionsBackend(self)
        self.tokens = TokensBackend(self)
        self.auth = AuthBackend(self)
        self.limits = LimitsBackend(self)
        self.testdata = TestdataBackend(self)
        self.peppol = PeppolBackend(self)
        self.invoices = InvoicesBackend(self)
        self.sessions = SessionsBackend(self)
        self.collective = CollectiveBackend(self)

    def expire_access_tokens(self) -> None:
        """Every JWT issued so far stops verifying (401), as after a key change on the server.

        The new secret comes from the OS, like the first one: re-activating a
        scenario with the same seed must never rotate back to a secret that earlier
        JWTs were signed with, and no seed may let anyone recompute it.
        """
        self.jwt.rotate(secret_bytes(32))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"environment": self.env.value, "generation": self.generation}
        for name in (
            "subjects",
            "public_keys",
            "auth",
            "tokens",
            "permissions",
            "certificates",
            "peppol",
        ):
            backend = getattr(self, name)
            if hasattr(backend, "summary"):
                out[name] = backend.summary()
        return out


class MockState:
    def __init__(
        self, config: MockConfig | None = None, spec: Spec | None = None, clock: Clock | None = None
    ) -> None:
        from mockksef import official

        config = config or MockConfig()
        config.validate()
        # No seed asked for: a fresh one per start, so that identifiers never repeat
        # across restarts; it is kept in the config (banner, /_mock/health) for replay.
        self.seed_explicit = config.seed is not None
        self.seed = config.seed if config.seed is not None else fresh_seed()
        self.config = config if self.seed_explicit else replace(config, seed=self.seed)
        if clock is None:
            start = parse_datetime(self.config.clock_start) if self.config.clock_start else None
            clock = Clock(self.config.clock_mode, start)  # type: ignore[arg-type]
        self.clock = clock
        if spec is None:
            spec = Spec.from_dir(official.locate(self.config.official_dir))
        self.spec = spec
        self.rng = RandomSource(self.seed, "root")
        # Survives reset(): things a real data reset does not touch, such as the
        # Ministry's public keys (keyed by (environment, name)).
        self.durable: dict[tuple[Env, str], Any] = {}
        self._lock = threading.RLock()
        # Listeners of domain events (scenario engine); survive reset().
        self.event_sinks: list[Sink] = []
        # Keyed by Env; a StrEnum member hashes as its value, so "test" finds it too.
        self._envs: dict[str, EnvironmentState] = {}
        self._generations: dict[Env, int] = {}
        for env in self.config.environments:
            self._generations[env] = 0
        from mockksef.scenarios.journal import Journal
        from mockksef.scenarios.manager import ScenarioManager

        # The request journal and the scenario engine (mockksef/scenarios/).
        self.journal = Journal(
            self.config.journal_size,
            self.config.journal_sample_every,
            self.config.journal_enabled,
        )
        self.scenarios = ScenarioManager(self)
        # The data directory (``--data``); None keeps everything in memory only.
        self.persistence: Any = None
        if self.config.data_dir:
            self.open_data(self.config.data_dir)

    def env(self, env: Env | str) -> EnvironmentState:
        # Every request asks with an Env (a str enum: "test" finds it too); parse only on a miss.
        state = self._envs.get(env)
        if state is not None:
            return state
        key = Env.parse(env)
        state = self._envs.get(key)
        if state is None:
            if key not in self._generations:
                raise KeyError(f"environment {key.value} is not enabled")
            with self._lock:
                state = self._envs.get(key)
                if state is None:
                    state = EnvironmentState(self, key, self._generations[key])
                    self._envs[key] = state
        return state

    @property
    def environments(self) -> tuple[Env, ...]:
        return tuple(self._generations)

    def generation(self, env: Env | str) -> int:
        return self._generations[Env.parse(env)]

    def built_environments(self) -> list[EnvironmentState]:
        """The environments that exist so far (each is built on first use)."""
        return list(self._envs.values())

    def install(self, env_state: EnvironmentState) -> None:
        """Put a restored environment in place (a restart, a snapshot load).

        Generations only grow: JWTs and tokens minted since the stored state
        was written must not come back to life under a repeated generation.
        """
        with self._lock:
            generation = max(env_state.generation, self._generations[env_state.env])
            env_state.generation = generation
            self._generations[env_state.env] = generation
            self._envs[env_state.env] = env_state

    def open_data(self, directory: str) -> None:
        """Keep this state in ``directory`` (``serve --data``): load what is there, then
        commit after every answer. Raises ``StoreError`` (one line) when it cannot."""
        from mockksef.persistence import DataDirectory

        self.persistence = DataDirectory.open(directory, self)

    def commit(self, *, hot: bool = False, wait: bool = True) -> bool:
        """Make every change so far durable (no-op without ``--data``).

        ``wait=False`` returns False instead of waiting for a commit or load
        in progress elsewhere."""
        if self.persistence is None:
            return True
        return bool(self.persistence.commit(self, hot=hot, wait=wait))

    def reset(self, env: Env | str | None = None) -> None:
        """Wipe data; every JWT and KSeF token issued before is dead afterwards."""
        targets = [Env.parse(env)] if env else list(self._generations)
        with self._lock:
            for key in targets:
                if key not in self._generations:
                    raise KeyError(f"environment {key.value} is not enabled")
                self._generations[key] += 1
                self._envs.pop(key, None)
        for key in targets:
            for sink in self.event_sinks:
                sink(key.value, "data.reset", {"generation": self._generations[key]})

    def summary(self) -> dict[str, Any]:
        return {
            "clock": self.clock.describe(),
            "seed": self.config.seed,
            "specVersion": self.spec.version,
            "environments": {e.value: self.env(e).summary() for e in self.environments},
        }
