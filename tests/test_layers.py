"""The package's imports run downward only: no cycles, and no layer reaches above its own.

    transports  app, cli, accounts_cli, serving, deps, demo, health, */views.py, gateway/,
                http/, web/
    services    */service.py, push/worker.py, cluster, admin/masters.py, admin/stats.py,
                admin/board.py
    dispatch    dispatch/offers.py, dispatch/rounds.py, dispatch/expiry.py,
                dispatch/receipts.py, dispatch/escalation.py
    domain      */models.py, */schemas.py, orders/queries.py, orders/notices.py, orders/timeline.py,
                dispatch/eligibility.py, dispatch/ranking.py, dispatch/offer_events.py,
                push/jobs.py, push/validation.py
    base        actors, errors, clock, settings, metrics, schemas, context, presence, alarm,
                store/, events/, broker/, auth/security.py

The SDK (`client/`) is a separate program that talks to the server over the network only.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "dispatchwire"
LAYERS = ["base", "domain", "dispatch", "services", "transports"]
EXCEPTIONS = {"migrations"}


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]
    top, leaf = (parts[0] if parts else ""), parts[-1] if parts else ""
    if top in ("gateway", "http", "web") or leaf == "views" or \
            module in {"dispatchwire.app", "dispatchwire.cli", "dispatchwire.deps",
                       "dispatchwire.demo", "dispatchwire.health", "dispatchwire.__main__",
                       "dispatchwire.accounts_cli", "dispatchwire.serving"}:
        return "transports"
    if leaf in ("service", "worker") or module in {
            "dispatchwire.cluster", "dispatchwire.admin.masters", "dispatchwire.admin.stats",
            "dispatchwire.admin.board"}:
        return "services"
    if module in {"dispatchwire.dispatch.offers", "dispatchwire.dispatch.rounds",
                  "dispatchwire.dispatch.expiry", "dispatchwire.dispatch.receipts",
                  "dispatchwire.dispatch.escalation"}:
        return "dispatch"
    if (leaf in ("models", "schemas") and len(parts) == 2) or module in {
            "dispatchwire.models", "dispatchwire.orders.queries", "dispatchwire.orders.notices",
            "dispatchwire.orders.timeline",
            "dispatchwire.dispatch.eligibility", "dispatchwire.dispatch.ranking",
            "dispatchwire.dispatch.offer_events",
            "dispatchwire.push.jobs", "dispatchwire.push.validation"}:
        return "domain"
    return "base"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if not ({"client", *EXCEPTIONS} & set(relative.parts)):
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules `path` imports anywhere (functions included), but for type
    checking."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
                   and ast.unparse(stmt.test) == "TYPE_CHECKING" for node in ast.walk(stmt)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(path, known) - {name} for name, path in found.items()}


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
                    for module, targets in graph().items() for target in targets
                    if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(module))
                    and not target.startswith(module + "."))  # a package re-exports its own
    assert upward == []


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ that only re-exports its modules is not part of a cycle.
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    edges = {m: {t for t in ts if t not in packages} for m, ts in edges.items()}
    cycles, state = [], dict.fromkeys(edges, 0)

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif state.get(target) == 0:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(edges):
        if state[node] == 0:
            visit(node, [node])
    assert cycles == []


def test_the_layers_see_every_module() -> None:
    assert {layer_of(module) for module in modules()} == set(LAYERS)
