"""The public surface of ksefclient: ``__all__`` is exact, modules are private, sync = async."""

from __future__ import annotations

import ast
import inspect
import pkgutil
from pathlib import Path

import ksefclient
from ksefclient import _exceptions
from ksefclient._async import AsyncKsefClient
from ksefclient._sync import KsefClient

PACKAGE = Path(ksefclient.__file__).parent
PUBLIC_MODULES = {"xades"}  # signing helpers, public since before the client


def test_all_is_sorted_unique_and_exact() -> None:
    names = ksefclient.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(ksefclient, name), name
    public = {
        name
        for name, value in vars(ksefclient).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(names) - {"__version__"}


def test_modules_are_private() -> None:
    for module in pkgutil.iter_modules([str(PACKAGE)]):
        assert module.name.startswith("_") or module.name in PUBLIC_MODULES, module.name


def test_every_exception_is_exported_and_drawn_in_the_hierarchy() -> None:
    doc = _exceptions.__doc__ or ""
    for name, value in vars(_exceptions).items():
        if isinstance(value, type) and issubclass(value, ksefclient.KsefError):
            assert name in ksefclient.__all__, name
            assert name in doc, f"{name} is missing from the hierarchy drawing"
            assert value.__module__ == "ksefclient._exceptions"


def test_sync_and_async_clients_offer_the_same_methods_and_signatures() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if not name.startswith("_") and callable(member)
        }

    sync, async_ = public(KsefClient), public(AsyncKsefClient)
    assert set(sync) - {"close"} == set(async_) - {"aclose"}
    for name, signature in sync.items():
        if name == "close":
            continue
        assert list(signature.parameters) == list(async_[name].parameters), name
        member = vars(AsyncKsefClient)[name]
        target = getattr(member, "__wrapped__", member)
        assert inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target), name


def test_the_client_never_imports_the_mock() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] in ("mockksef", "tests") for n in names), path
