"""The layers of DESIGN.md ("Layers"), checked on the source code.

Floors, each importing only from those below it:

1. the ground floor of ``talowa_admin`` (``GROUND_FLOOR``), then ``messaging``;
2. ``backups`` and ``retention``, then ``recovery``;
3. the top of ``talowa_admin``: every module not on the ground floor (the
   facade ``talowa_admin.services``, the admin registrations, the admin site,
   urls, views, monitoring, the dashboard).

The modules are parsed, not imported, so an import inside a function counts
as much as one at the top of a file: hiding an import in a function does not
move a module to another floor.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("messaging", "backups", "retention", "recovery")
PACKAGES = ("talowa_admin", *APPS)

# What the apps may import from talowa_admin. Everything else in the package
# is its top floor, which imports the apps.
GROUND_FLOOR = frozenset(
    {
        "talowa_admin",  # the package itself (a docstring)
        "talowa_admin.admin_base",  # the read-only admin base
        "talowa_admin.apps",
        "talowa_admin.audit",  # the audit trail
        "talowa_admin.checks",
        "talowa_admin.cli",  # the command base class
        "talowa_admin.env",
        "talowa_admin.errors",
        "talowa_admin.forms",  # the system settings form
        "talowa_admin.health",  # /healthz and /readyz
        "talowa_admin.humanize",
        "talowa_admin.liveness",
        "talowa_admin.locks",
        "talowa_admin.logfilters",
        "talowa_admin.models",  # audit events, locks, system settings
        "talowa_admin.progress",
        "talowa_admin.queue",  # queue helpers
        "talowa_admin.redaction",
        "talowa_admin.roles",
    }
)
GROUND_FLOOR_PACKAGES = (
    "talowa_admin.formats",
    "talowa_admin.migrations",
    "talowa_admin.templatetags",
)

# Imports inside a function that stay, each with its reason. None dodges a
# cycle between project modules: such an import means a module sits on the
# wrong floor, and the fix is to move the module. Migrations are left out of
# this rule: nothing imports a migration, so it cannot close a cycle, and its
# RunPython functions import their helpers when they run (Django's pattern).
FUNCTION_LEVEL_ALLOWED = {
    ("talowa_admin.apps", "talowa_admin.checks"): (
        "AppConfig.ready() registers the system checks (Django's documented place)"
    ),
    ("talowa_admin.apps", "talowa_admin.roles"): (
        "AppConfig.ready() connects the post_migrate receiver that keeps roles"
    ),
    ("recovery.apps", "recovery.services.plans"): (
        "a post_migrate receiver in apps.py, which may not import models"
    ),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the project module imported
    line: int
    in_function: bool

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def floor_of(module: str) -> str:
    """Return the component a module belongs to (an app or a talowa_admin floor)."""
    package = module.split(".")[0]
    if package != "talowa_admin":
        return package
    if module in GROUND_FLOOR or module.startswith(
        tuple(name + "." for name in GROUND_FLOOR_PACKAGES) + GROUND_FLOOR_PACKAGES
    ):
        return "talowa_admin:ground"
    return "talowa_admin:top"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, path: Path, node: ast.stmt) -> list[str]:
    modules = project_modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        source = _resolve(module, path, node)
        # ``from package import module`` imports the module.
        names = [
            f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
            for alias in node.names
        ]
    return sorted({name for name in names if name.split(".")[0] in PACKAGES})


def _walk(node: ast.AST, in_function: bool = False):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        yield from _walk(
            child,
            in_function
            or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
        )


@cache
def project_imports() -> tuple[Import, ...]:
    found = []
    for module, path in project_modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, in_function in _walk(tree):
            for target in _targets(module, path, node):
                found.append(Import(module, target, node.lineno, in_function))
    return tuple(found)


def _report(bad: list[Import]) -> str:
    return "\n".join(str(item) for item in bad)


def test_the_ground_floor_names_modules_that_exist():
    modules = project_modules()
    assert sorted(GROUND_FLOOR - modules.keys()) == []
    assert all(package in modules for package in GROUND_FLOOR_PACKAGES)


def test_apps_import_only_the_ground_floor_of_talowa_admin():
    bad = [
        item
        for item in project_imports()
        if floor_of(item.module) in APPS and floor_of(item.target) == "talowa_admin:top"
    ]
    assert not bad, "apps import the top of talowa_admin:\n" + _report(bad)


def test_the_ground_floor_imports_neither_an_app_nor_the_top():
    bad = [
        item
        for item in project_imports()
        if floor_of(item.module) == "talowa_admin:ground"
        and floor_of(item.target) != "talowa_admin:ground"
    ]
    assert not bad, "the ground floor imports from above:\n" + _report(bad)


def test_messaging_imports_no_other_app():
    bad = [
        item
        for item in project_imports()
        if floor_of(item.module) == "messaging"
        and floor_of(item.target) in APPS
        and floor_of(item.target) != "messaging"
    ]
    assert not bad, "messaging imports its protectors:\n" + _report(bad)


@pytest.mark.parametrize("app", ["backups", "retention"])
def test_backups_and_retention_never_import_recovery(app):
    bad = [
        item
        for item in project_imports()
        if floor_of(item.module) == app and floor_of(item.target) == "recovery"
    ]
    assert not bad, f"{app} imports recovery:\n" + _report(bad)


def test_no_function_level_import_of_a_project_module():
    bad = [
        item
        for item in project_imports()
        if item.in_function
        and ".migrations." not in item.module
        and (item.module, item.target) not in FUNCTION_LEVEL_ALLOWED
    ]
    assert not bad, (
        "imports inside functions (move the import to the top, or the module "
        "to its floor):\n" + _report(bad)
    )


def test_the_allowed_function_level_imports_still_exist():
    present = {
        (item.module, item.target) for item in project_imports() if item.in_function
    }
    assert sorted(FUNCTION_LEVEL_ALLOWED.keys() - present) == []


def _import_graph() -> dict[str, set[str]]:
    """Return who imports whom, the packages run on the way included."""
    graph: dict[str, set[str]] = {}
    for item in project_imports():
        if ".migrations." in item.module:
            continue
        parts = item.target.split(".")
        for size in range(1, len(parts) + 1):
            name = ".".join(parts[:size])
            # A module's own packages are already being imported.
            if not (item.module + ".").startswith(name + "."):
                graph.setdefault(item.module, set()).add(name)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str]:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)):
                return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return []

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return []


def test_no_import_cycle_between_project_modules():
    """Inside functions or not, no chain of imports comes back to its start."""
    cycle = _find_cycle(_import_graph())
    assert not cycle, "an import cycle: " + " -> ".join(cycle)


def test_the_facade_imports_the_apps_at_module_level():
    facade = [
        item for item in project_imports() if item.module == "talowa_admin.services"
    ]
    assert {floor_of(item.target) for item in facade} >= {
        "backups",
        "retention",
        "recovery",
    }
    assert not [item for item in facade if item.in_function]


def test_the_readme_shows_every_ground_floor_module():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    named = [name.rsplit(".", 1)[1] + ".py" for name in GROUND_FLOOR - {"talowa_admin"}]
    named += [name.rsplit(".", 1)[1] + "/" for name in GROUND_FLOOR_PACKAGES]
    missing = sorted(name for name in named if name not in section)
    assert not missing, "README's Architecture section does not name " + str(missing)
