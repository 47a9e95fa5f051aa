"""How domain objects become bytes and back: pickle, with references and a guard.

The domain's objects are plain dataclasses and dicts; pickle writes them as
they are, so a new field needs no codec change. Three things are not written
inline:

* objects that belong to the process, not to the data (the state root, the
  spec, the clock, locks, event sinks): written as a name, resolved to the
  live object on load;
* objects stored in their own rows (stored invoices, sessions, the invoices
  of a session, the invoice store itself): written as a key, so a commit
  writes each once and a row is read once however many objects point at it;
* ``cryptography`` keys and certificates, which pickle cannot take: written
  as DER and loaded back.

Loading is guarded: a snapshot may come by mail, and a pickle can name any
callable. :class:`Unpickler` resolves only mockksef's own classes, this
module's loaders, and a short list of standard types; anything else is a
:class:`~mockksef.persistence.database.StoreError`.
"""

from __future__ import annotations

import io
import pickle
import threading
import types
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from mockksef.persistence.database import StoreError

PROTOCOL = 5
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
_PUBLIC_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)


def load_certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def load_private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, None)


def load_public_key(der: bytes) -> Any:
    return serialization.load_der_public_key(der)


def load_csr(der: bytes) -> x509.CertificateSigningRequest:
    return x509.load_der_x509_csr(der)


def load_oid(dotted: str) -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(dotted)


def new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def bound_method(owner: Any, name: str) -> Any:
    """A method a domain object keeps as an attribute (``self.expire = registry.expire``).

    Not ``getattr``: a pickle may only name public methods of mockksef's own
    domain objects, so no chain of attributes leads out of the data.
    """
    if (
        not name.isidentifier()
        or name.startswith("_")
        or not _domain_module(type(owner).__module__)
        or not callable(getattr(type(owner), name, None))
    ):
        raise StoreError(f"stored state names method {name!r} of {type(owner).__name__}")
    return getattr(owner, name)


# Where the classes of stored state live; a pickle naming any other mockksef
# module (the CLI, the server, the persistence itself) is refused.
_DOMAIN = (
    "mockksef.services.",
    "mockksef.scenarios.",
    "mockksef.xml.",
    "mockksef.models",
    "mockksef.state",
    "mockksef.events",
    "mockksef.jwts",
    "mockksef.ids",
    "mockksef.config",
    "mockksef.environments",
    "mockksef.clock",
    "mockksef.crypto",
    "mockksef.paging",
    "mockksef.errors",
    "mockksef.invoicegen",
)


def _domain_module(module: str) -> bool:
    return any(module == d.rstrip(".") or module.startswith(d) for d in _DOMAIN)


# Standard names a state pickle may use (module -> names). Everything else outside
# mockksef is refused on load.
_ALLOWED: dict[str, frozenset[str]] = {
    "builtins": frozenset({"set", "frozenset", "bytearray", "complex", "slice", "range"}),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "collections": frozenset({"deque", "OrderedDict", "defaultdict", "Counter"}),
    "array": frozenset({"array", "_array_reconstructor"}),
    "copyreg": frozenset({"_reconstructor"}),
    "random": frozenset({"Random"}),
    "re": frozenset({"_compile"}),
    "zoneinfo": frozenset({"ZoneInfo"}),
    "ipaddress": frozenset({"IPv4Address", "IPv6Address", "IPv4Network", "IPv6Network"}),
    "pathlib": frozenset({"PurePosixPath", "PosixPath", "Path"}),
    "uuid": frozenset({"UUID"}),
    # Certificate subjects kept apart from their certificates (enrollments).
    "cryptography.x509.name": frozenset(
        {"Name", "RelativeDistinguishedName", "NameAttribute", "_ASN1Type"}
    ),
    "enum": frozenset({"Enum"}),
    "mockksef.persistence.codec": frozenset(
        {
            "load_certificate",
            "load_private_key",
            "load_public_key",
            "new_lock",
            "bound_method",
            "load_oid",
            "load_csr",
        }
    ),
}
# Domain classes that are always written as references (see the persister), never
# inline: building one from a pickle has effects (MockState opens a data directory).
_NEVER_INLINE = frozenset({("mockksef.state", "MockState")})


def _reducer_for(kind: type) -> Callable[[Any], Any] | None:
    if issubclass(kind, x509.Certificate):
        return lambda obj: (load_certificate, (obj.public_bytes(serialization.Encoding.DER),))
    if issubclass(kind, _PRIVATE_KEYS):
        return lambda obj: (
            load_private_key,
            (
                obj.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
        )
    if issubclass(kind, _PUBLIC_KEYS):
        return lambda obj: (
            load_public_key,
            (
                obj.public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
            ),
        )
    if issubclass(kind, x509.CertificateSigningRequest):
        return lambda obj: (load_csr, (obj.public_bytes(serialization.Encoding.DER),))
    if issubclass(kind, x509.ObjectIdentifier):
        return lambda obj: (load_oid, (obj.dotted_string,))
    if kind in _LOCK_TYPES:
        return lambda obj: (new_lock, (type(obj) is _LOCK_TYPES[1],))
    if kind is types.MethodType:
        return lambda obj: (
            (bound_method, (obj.__self__, obj.__func__.__name__))
            if not isinstance(obj.__self__, type)
            else NotImplemented
        )
    return None


# type -> its reducer (None: pickle's own), decided once per type (ABC checks are slow).
_REDUCERS: dict[type, Callable[[Any], Any] | None] = {}


class PlainPickler(pickle.Pickler):
    """Pickle with the reducers above (keys, certificates, locks, bound methods)."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        try:
            reducer = _REDUCERS[kind]
        except KeyError:
            reducer = _REDUCERS[kind] = _reducer_for(kind)
        return NotImplemented if reducer is None else reducer(obj)


class Pickler(PlainPickler):
    """Writes one object; ``refer(obj)`` -> a key for objects kept elsewhere (or None)."""

    def __init__(self, file: io.BytesIO, refer: Callable[[Any], Any]) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self._refer = refer
        self.top: Any = None

    def persistent_id(self, obj: Any) -> Any:
        if obj is self.top:
            return None
        return self._refer(obj)


def dumps(obj: Any, refer: Callable[[Any], Any] | None = None) -> bytes:
    buffer = io.BytesIO()
    if refer is None:
        PlainPickler(buffer, protocol=PROTOCOL).dump(obj)
    elif refer(obj) is None:
        # The object written is never a reference to itself; when ``refer`` would
        # not make it one anyway it is the pickler's hook as it is: one Python call
        # an object instead of two (the hook runs for every object, strings and
        # ints included: most of the time of an environment's pickle).
        plain = PlainPickler(buffer, protocol=PROTOCOL)
        setattr(plain, "persistent_id", refer)  # noqa: B010 - an instance's hook
        plain.dump(obj)
    else:
        pickler = Pickler(buffer, refer)
        pickler.top = obj
        pickler.dump(obj)
    return buffer.getvalue()


class Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, resolve: Callable[[Any], Any] | None) -> None:
        super().__init__(file)
        self._resolve = resolve

    def persistent_load(self, pid: Any) -> Any:
        if self._resolve is None:
            raise StoreError(f"unexpected reference {pid!r} in stored state")
        return self._resolve(pid)

    def find_class(self, module: str, name: str) -> Any:
        if module == "mockksef.persistence.codec":
            if name in _ALLOWED[module]:
                return super().find_class(module, name)
        elif _domain_module(module) and (module, name) not in _NEVER_INLINE:
            found = super().find_class(module, name)
            # Only the domain's own classes (dataclasses, enums): no functions to call,
            # and no class a domain module merely imports (``io.FileIO`` reached as
            # ``archive.io.FileIO``, ``zipfile.ZipFile``): pickle writes a class under
            # the module that defines it, so any other module is a crafted pickle.
            if isinstance(found, type) and found.__module__ == module:
                return found
        elif name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise StoreError(f"stored state names {module}.{name}, which mockksef never writes")


def loads(data: bytes, resolve: Callable[[Any], Any] | None = None) -> Any:
    try:
        return Unpickler(io.BytesIO(data), resolve).load()
    except StoreError:
        raise
    except Exception as exc:  # a damaged or foreign blob: say so, never crash the caller
        raise StoreError(f"stored state cannot be read ({type(exc).__name__}: {exc})") from None
