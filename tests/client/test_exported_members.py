"""The public surface of ksefclient: ``__all__`` is exact, modules are private, sync = async."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import httpx

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


def _modules() -> list[ModuleType]:
    prefix = ksefclient.__name__ + "."
    # __main__ is left out: importing it runs the command line.
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix)]
    modules = (importlib.import_module(n) for n in names if n != "ksefclient.__main__")
    return [ksefclient, *modules]


def _defined_here(module: ModuleType) -> set[str]:
    """Public names a module defines itself (classes, functions, constants; not TypeVars)."""
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {
        n
        for n in names
        if not n.startswith("_") and not isinstance(vars(module)[n], TypeVar | ParamSpec)
    }


def test_every_module_declares_what_it_offers_in_a_sorted_exact_all() -> None:
    for module in _modules():
        offered = getattr(module, "__all__", None)
        assert offered is not None, f"{module.__name__} has no __all__"
        assert offered == sorted(set(offered)), module.__name__
        for name in offered:
            assert hasattr(module, name), f"{module.__name__}.__all__ names a missing {name}"
        if not hasattr(module, "__path__"):  # a package re-exports; a module offers its own
            assert _defined_here(module) == set(offered) - {"__version__"}, module.__name__


def test_modules_import_from_each_other_only_what_the_other_offers() -> None:
    """The private modules meet through their ``__all__``, never through internals."""
    for module in _modules():
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ksefclient")
            ):
                continue
            source = importlib.import_module(node.module or "")
            for alias in node.names:
                if inspect.ismodule(getattr(source, alias.name, None)):
                    continue
                assert alias.name in source.__all__, (
                    f"{module.__name__} imports {alias.name} from {node.module}, "
                    "which does not offer it"
                )


def test_every_exception_is_exported_and_drawn_in_the_hierarchy() -> None:
    doc = _exceptions.__doc__ or ""
    for name, value in vars(_exceptions).items():
        if isinstance(value, type) and issubclass(value, ksefclient.KsefError):
            assert name in ksefclient.__all__, name
            assert name in doc, f"{name} is missing from the hierarchy drawing"
            assert value.__module__ == "ksefclient._exceptions"


# The public methods as released, with their parameters: a change here changes the API.
_FA3 = "FormCode(system_code='FA (3)', schema_version='1-0E', value='FA')"
API = {
    "authenticate": "(self)",
    "close": "(self)",
    "close_online_session": "(self, session)",
    "context_limits": "(self)",
    "download_invoice": "(self, ksef_number)",
    "export_invoices": "(self, filters, *, only_metadata=False, compression='Zip', timeout=None)",
    "export_status": "(self, reference_number)",
    "forget_tokens": "(self)",
    "generate_token": "(self, permissions, description, *, wait_active=True)",
    "get_token": "(self, reference_number)",
    "grant_person_permissions": "(self, subject, permissions, description, *, wait=True)",
    "import_new": "(self, checkpoint, *, fetch_xml=True, use_export=False, on_invoice=None)",
    "import_period": (
        "(self, date_from, date_to=None, *, subject_type='Subject1', date_type='Issue', "
        "fetch_xml=True)"
    ),
    "invoice_status": "(self, session_reference, invoice_reference)",
    "invoice_upo": "(self, session_reference, *, ksef_number=None, invoice_reference=None)",
    "list_auth_sessions": "(self)",
    "list_sessions": "(self, session_type='Online', statuses=None)",
    "list_tokens": "(self, statuses=None, description=None)",
    "online_session": f"(self, form_code={_FA3})",
    "open_online_session": f"(self, form_code={_FA3})",
    "public_keys": "(self, refresh=False)",
    "query_invoice_metadata": (
        "(self, filters, *, page_offset=0, page_size=100, sort_order='Asc')"
    ),
    "query_personal_permissions": "(self, **filters)",
    "rate_limits": "(self)",
    "refresh": "(self)",
    "resume": "(self, tokens)",
    "revoke_auth_session": "(self, reference_number=None)",
    "revoke_permission": "(self, permission_id, *, wait=True)",
    "revoke_token": "(self, reference_number)",
    "send_batch": (
        f"(self, invoices, form_code={_FA3}, *, offline_mode=False, part_size=100000000, "
        "timeout=None)"
    ),
    "send_invoice": "(self, session, xml, *, offline_mode=False, hash_of_corrected_invoice=None)",
    "send_invoices": f"(self, invoices, form_code={_FA3}, *, offline_mode=False, timeout=None)",
    "session_invoices": "(self, reference_number, *, failed=False)",
    "session_status": "(self, reference_number)",
    "session_upo": "(self, session_reference, upo_reference=None)",
    "subject_limits": "(self)",
    "wait_for_invoice": "(self, session_reference, invoice_reference, timeout=None)",
    "wait_for_session": "(self, reference_number, timeout=None)",
}
# Configuration, no I/O: plain methods on both clients.
PLAIN = {"forget_tokens", "resume"}


def _parameters(member: Any) -> str:
    signature = inspect.signature(member)
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def _methods(cls: type) -> dict[str, str]:
    """Public methods and their parameters (without annotations)."""
    return {
        name: _parameters(getattr(cls, name))
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def _asynchronous(method: Any) -> bool:
    function = inspect.unwrap(method)  # through contextlib's decorators
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def test_both_clients_keep_the_released_methods_and_parameters() -> None:
    assert _methods(KsefClient) == API
    closing = {"aclose" if name == "close" else name: value for name, value in API.items()}
    assert _methods(AsyncKsefClient) == closing


def test_the_async_client_awaits_where_the_sync_client_blocks() -> None:
    options: dict[str, Any] = {"base_url": "http://127.0.0.1:9/v2", "nip": "5265877635"}
    with httpx.Client() as sync_http:
        sync = KsefClient(http_client=sync_http, **options)
        async_http = httpx.AsyncClient()
        try:
            async_ = AsyncKsefClient(http_client=async_http, **options)
            for name in API:
                blocking = getattr(sync, name)
                awaiting = getattr(async_, "aclose" if name == "close" else name)
                assert not _asynchronous(blocking), name
                assert _asynchronous(awaiting) == (name not in PLAIN), name
                # Bound methods show their parameters (not *args, **kwargs), as released.
                released = API[name].replace("(self, ", "(").replace("(self)", "()")
                assert _parameters(blocking) == _parameters(awaiting) == released, name
        finally:
            asyncio.run(async_http.aclose())


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
