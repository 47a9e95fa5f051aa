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
}
# Core modules may import these project modules only (pure helpers of the core).
CORE_ALLOWED = {
    "mockksef.clock",
    "mockksef.environments",
    "mockksef.errors",
    "mockksef.jwts",
    "mockksef.spec_overlay",
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
