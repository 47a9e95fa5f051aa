"""Layering rules of ARCHITECTURE.md, checked by walking the imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mockksef"

CORE = {
    "errors",
    "clock",
    "ids",
    "spec",
    "operations",
    "environments",
    "models",
    "official",
    "jwts",
    "crypto",
    "config",
    "events",
    "violations",
    "untrusted",
}
# Core modules may import these project modules only (pure helpers of the core).
CORE_ALLOWED = {
    "mockksef.clock",
    "mockksef.environments",
    "mockksef.errors",
    "mockksef.jwts",
    "mockksef.spec_overlay",
    "mockksef.violations",
    "mockksef.untrusted",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from mockksef import x` imports the module mockksef.x.
            found |= {
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "mockksef"
            }
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        out.append((".".join(rel.parts), path))
    return out


def test_core_modules_import_nothing_else_from_the_project():
    for name in CORE:
        path = PACKAGE / f"{name}.py"
        project = {i for i in _imports(path) if i.startswith("mockksef.")}
        assert project <= CORE_ALLOWED, f"{name} imports {project - CORE_ALLOWED}"


def test_backends_never_import_starlette_or_routes():
    for name, path in _modules():
        if not re.search(
            r"\.services\.[a-z_]+\.(backend|models|keys|xades)", name
        ) and not name.endswith("services.subjects"):
            continue
        imports = _imports(path)
        assert not any(i.startswith("starlette") for i in imports), f"{name} imports starlette"
        assert not any(i.endswith(".routes") or "routes" in i.split(".")[-1] for i in imports), (
            f"{name} imports routes"
        )


def test_areas_do_not_import_each_others_routes():
    for name, path in _modules():
        match = re.match(r"mockksef\.services\.([a-z_]+)\.", name)
        if not match:
            continue
        area = match.group(1)
        for imported in _imports(path):
            other = re.match(r"mockksef\.services\.([a-z_]+)\.routes", imported)
            assert not other or other.group(1) == area, f"{name} imports {imported}"


def test_no_wall_clock_or_unseeded_randomness_outside_clock_and_ids():
    banned = re.compile(
        r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|uuid\.uuid4\(|\brandom\.(random|randint|choice|getrandbits)\(|secrets\."
    )
    allowed = {"mockksef.clock", "mockksef.ids", "mockksef.server"}
    for name, path in _modules():
        if name in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        assert not banned.search(text), f"{name} reads the wall clock or unseeded randomness"


def test_public_all_is_sorted_and_exact():
    import mockksef

    assert mockksef.__all__ == sorted(mockksef.__all__)
    for name in mockksef.__all__:
        assert hasattr(mockksef, name)


# -- private attributes and locks belong to their owner ------------------------------------------

# Packages whose modules must not reach into other objects' private state.
SCANNED = ("mockksef", "client/ksefclient", "contracts")
# (imported module, attribute) that may be read although it starts with "_". Each with its reason.
PRIVATE_ALLOWED = {
    # lxml names its element classes _Element / _ProcessingInstruction; they are its
    # documented public types (https://lxml.de/apidoc/lxml.etree.html), the ones to annotate with.
    ("lxml.etree", "_Element"): "lxml's public element type",
    ("lxml.etree", "_ProcessingInstruction"): "lxml's public processing-instruction type",
}


def _is_lock(name: str) -> bool:
    return name in ("lock", "_lock") or name.endswith("_lock")


def _chain(node: ast.expr) -> list[str] | None:
    """``self.registry.lock`` -> ["self", "registry", "lock"]; None when not a plain chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def private_access(source: str, name: str = "<snippet>") -> list[str]:
    """Where a module touches private attributes or locks that are not its own.

    ``x._name`` is allowed only when ``x`` is ``self``, ``cls``, ``super()``, a
    class or function the module defines itself, or a name annotated with such a
    class (``drill: Drill``); ``getattr/setattr/hasattr(x, "_name")`` likewise. A
    lock (``lock``, ``_lock``, ``*_lock``) may be taken only by its owner
    (``self.lock``) or through a part the object holds (``self.registry.lock``),
    never across the state root (``env.tokens.lock``, ``self.env.tokens.lock``).
    Dunder names are everyone's.
    """
    tree = ast.parse(source)
    checker = _PrivateAccess(tree, name)
    checker.visit(tree)
    return [text for _, _, text in sorted(checker.found)]


def _private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


class _PrivateAccess(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, name: str) -> None:
        self.name = name
        self.classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        self.local = self.classes | {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        self.imported: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.imported[alias.asname or alias.name.split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        # Names annotated with a class of this module, per enclosing function.
        self.typed: list[set[str]] = [set()]
        self.found: list[tuple[int, int, str]] = []

    def _of_local_class(self, annotation: ast.expr | None) -> bool:
        if annotation is None:
            return False
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            annotation = ast.parse(annotation.value, mode="eval").body
        return any(isinstance(n, ast.Name) and n.id in self.classes for n in ast.walk(annotation))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        typed = {a.arg for a in every if a is not None and self._of_local_class(a.annotation)}
        self.typed.append(self.typed[-1] | typed)
        self.generic_visit(node)
        self.typed.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and self._of_local_class(node.annotation):
            self.typed[-1].add(node.target.id)
        self.generic_visit(node)

    def _owned(self, base: ast.expr) -> bool:
        if isinstance(base, ast.Name):
            return base.id in ("self", "cls") or base.id in self.local or base.id in self.typed[-1]
        return (
            isinstance(base, ast.Call)
            and isinstance(base.func, ast.Name)
            and base.func.id == "super"
        )

    def _report(self, node: ast.expr, text: str) -> None:
        self.found.append((node.lineno, node.col_offset, f"{self.name}:{node.lineno}: {text}"))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _is_lock(node.attr):
            chain = _chain(node.value)
            if chain is None or chain[0] not in ("self", "cls") or len(chain) > 2:
                self._report(node, f"{ast.unparse(node)} takes a lock it does not own")
        elif _private(node.attr) and not self._owned(node.value):
            base = node.value
            module = self.imported.get(base.id) if isinstance(base, ast.Name) else None
            if (module, node.attr) not in PRIVATE_ALLOWED:
                self._report(node, f"{ast.unparse(node)} is private to its owner")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and (_private(node.args[1].value) or _is_lock(node.args[1].value))
            and not self._owned(node.args[0])
        ):
            self._report(node, f"{ast.unparse(node)} reaches a private attribute")
        self.generic_visit(node)


def _scanned_files() -> list[Path]:
    return sorted(p for package in SCANNED for p in (ROOT / package).rglob("*.py"))


def test_no_module_touches_another_objects_private_state_or_locks():
    found = []
    for path in _scanned_files():
        found += private_access(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_every_private_allowance_is_still_needed():
    used = set()
    for path in _scanned_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert {attr for _, attr in PRIVATE_ALLOWED} <= used


def test_the_private_access_rule_catches_what_it_is_for():
    snippet = """
import threading
from lxml import etree
from mockksef.services.tokens.backend import TokensBackend


class Engine:
    def __init__(self, state):
        self._active = []
        self.registry = state.registry

    def own(self):
        with self._lock, self.registry.lock:
            return self._active, super()._setup(), Engine._helper(), etree._Element

    def peer(self, other: Engine, later: "Engine | None") -> None:
        other._active = later._active if later else []

    def foreign(self, backend, env, manager):
        with backend._lock:
            manager._active.append(1)
        with env.tokens.lock, self.env.tokens.lock:
            pass
        getattr(manager, "_active")
        hasattr(manager, "__dict__")
        return TokensBackend._hash("x"), etree._Comment
"""
    found = private_access(snippet)
    assert [line.split(": ", 1)[1] for line in found] == [
        "backend._lock takes a lock it does not own",
        "manager._active is private to its owner",
        "env.tokens.lock takes a lock it does not own",
        "self.env.tokens.lock takes a lock it does not own",
        "getattr(manager, '_active') reaches a private attribute",
        "TokensBackend._hash is private to its owner",
        "etree._Comment is private to its owner",
    ]
