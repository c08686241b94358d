"""Imports point down only (ARCHITECTURE.md, "Layers"): a lower layer never imports a
higher one. Table definitions (`*.models`), the vocabulary and the event registry are the
shared definitions every layer derives from, so they may be imported from anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import ticket_service

ROOT = Path(ticket_service.__file__).parent

# Lowest first. A module belongs to the first layer one of whose prefixes it starts with.
ENTRY_POINTS = ("main", "cli", "devserver", "worker.app")
FRONT_DOORS = (
    "actions",
    "idempotency",
    "web",
    "integrations",
    ".router",
    ".compat",
    ".dependencies",
)
SERVICES = (
    "tickets",
    "conversation",
    "assignment",
    "catalog",
    "users",
    "auth",
    "ratings",
    "stats",
    "sla",
)
EVENTS = ("events",)
WORKER = ("notifications", "worker")
BOTTOM = ("db", "redis", "config", "errors", "kit", "ops", "vocabulary", "models", "migrate")
LAYERS = ("bottom", "worker", "events", "services", "front doors", "entry points")
SHARED_SCHEMA = (".models", "vocabulary", "events.registry")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def layer_of(module: str) -> int:
    def starts(prefixes: tuple[str, ...]) -> bool:
        return any(
            module.endswith(p) if p.startswith(".") else (module + ".").startswith(p + ".")
            for p in prefixes
        )

    if starts(ENTRY_POINTS):
        return 5
    if starts(FRONT_DOORS):
        return 4
    for index, prefixes in ((3, SERVICES), (2, EVENTS), (1, WORKER), (0, BOTTOM)):
        if starts(prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("ticket_service."):
                module = name.removeprefix("ticket_service.")
                if (ROOT / f"{module.replace('.', '/')}.py").exists() or (
                    ROOT / module.replace(".", "/") / "__init__.py"
                ).exists():
                    found.add(module)
    return found


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        if not module:
            continue
        for imported in imports_of(path):
            if imported.endswith(SHARED_SCHEMA) or imported == "vocabulary":
                continue
            if layer_of(imported) > layer_of(module):
                upward.append(
                    f"{module} ({LAYERS[layer_of(module)]}) imports {imported} "
                    f"({LAYERS[layer_of(imported)]})"
                )
    assert upward == []


def test_the_rule_catches_an_upward_import() -> None:
    # The check itself can fail: a bottom module importing a service is reported.
    assert layer_of("ops.metrics") < layer_of("tickets.service") < layer_of("tickets.router")
    assert layer_of("events.record") < layer_of("conversation.service")
    assert layer_of("notifications.tasks") < layer_of("events.record")
