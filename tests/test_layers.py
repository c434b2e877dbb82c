"""The import contract: the package's rooms import downward only, from sources to graph to model to
discoveries, with no cycle between modules. Every import counts, also those inside functions,
because a deferred import is still an edge (it only hides it)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A unit (a module of lpm_kg, a subpackage of it, or the loaders) may import from its
# own layer or a lower one, never a higher one. A new module must be placed here: that is the point.
LAYERS = [
    ["lpm_kg", "errors", "jsonsafe", "run_ids"],  # the package's version, errors, pure helpers
    ["settings", "symbols", "validate", "collisions", "registry", "queries", "gene_network"],
    ["contract", "server", "provenance", "genes"],  # the loader -> graph data contract, the managed server
    ["graph", "loaders"],  # everything that talks to Neo4j; the source parsers
    ["loading", "priors", "analytics"],  # one load entry point; reference knowledge -> gene priors
    ["model", "simulate", "export", "plots", "predict"],  # the LPM and what reads the graph for users
    ["eval"],  # splits, metrics, baselines, the stack's experts
    ["stacked"],  # the default model, built from eval's experts
    ["training"],  # the pipeline from graph to trained model
    # what a trained model finds or asks to measure next; the sync, eval, demo and replay pipelines
    ["discovery", "design", "sync", "evaluate", "demo", "replay"],
    ["commands"],
    ["cli"],
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    out = {}
    for path in [*ROOT.glob("lpm_kg/**/*.py"), *ROOT.glob("loaders/**/*.py")]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _unit(module: str) -> str:
    parts = module.split(".")
    return "loaders" if parts[0] == "loaders" else (parts[1] if len(parts) > 1 else "lpm_kg")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _module_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in _modules()}
    assert units - set(LAYER) == set(), "place these in LAYERS (tests/test_layers.py)"


def test_no_upward_import():
    upward = defaultdict(list)
    for source, target in _module_graph().edges:
        a, b = _unit(source), _unit(target)
        if a in LAYER and b in LAYER and LAYER[b] > LAYER[a]:
            upward[f"{a} -> {b}"].append(f"{source} imports {target}")
    assert not upward, "imports against the layers:\n" + "\n".join(f"{k}: {v[:3]}" for k, v in upward.items())


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(_module_graph()))
    assert not cycles, f"{len(cycles)} import cycles, e.g. {' -> '.join(min(cycles, key=len))}"
    units = nx.DiGraph((_unit(a), _unit(b)) for a, b in _module_graph().edges if _unit(a) != _unit(b))
    assert list(nx.simple_cycles(units)) == []


def test_the_contract_sees_a_deferred_import(tmp_path):
    # A check that could not fail would prove nothing: an import inside a function is found.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from lpm_kg.cli import main\n    return main\n")
    assert "lpm_kg.cli" in _imports(module)


# Where an import inside a function is the rule, and why: the CLI and its commands import what a
# command runs when it runs, so `lpm-kg --help` and every other command do not load torch, pandas
# and the driver first. Elsewhere a package module is imported at the top of the module (a
# deferred one hides an edge of the import graph); only optional or heavy third-party packages used
# on one path (matplotlib, networkx, torch-geometric, scipy, h5py, anndata, torch.distributed) wait
# for the function that needs them.
DEFERRED_OK = {"cli", "commands"}


def test_package_imports_sit_at_the_top_outside_the_cli():
    deferred = []
    for name, path in _modules().items():
        if _unit(name) in DEFERRED_OK:
            continue
        functions = [f for f in ast.walk(ast.parse(path.read_text()))
                     if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in (n for f in functions for n in ast.walk(f)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (module or "").split(".")[0] in ("lpm_kg", "loaders"):
                    deferred.append(f"{name}:{node.lineno} imports {module}")
    assert deferred == [], "move these to the top of their module"
