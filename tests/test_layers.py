"""The package's floors, held: no module imports from a floor above its own.

From the ground up:
0. the vocabulary every floor shares (records, verdicts, counters, params, storage, SWHIDs, ...) and
   the tuning every pipeline gets (beam_tuning, the collector's thresholds, records' compressed pickles);
1. the pure cores and the readers of the archive (archive, licenses, quality, pii, notebooks, ...);
2. what a build writes (io) and the repository-metadata table it reads;
3. the stages, which wrap the cores as Beam transforms (stages);
4. the orchestration and the entry points (recipe, build, finish, regenerate, runners, cli, ...).
What a lower floor needs from a higher one is passed in (the report's filter stages, the card's stage
sections), never imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "stack_v2"
GROUND = {
    "beam_tuning",
    "budget",
    "collector",
    "counters",
    "decode",
    "documents",
    "errors",
    "input_files",
    "joins",
    "model_cache",
    "packed_text",
    "params",
    "progress",
    "ranking",
    "records",
    "resources",
    "storage",
    "swhids",
    "unicode_classes",
    "verdicts",
}
CORES = {
    "archive",
    "decontam",
    "doclang",
    "downsample",
    "github",
    "kaggle",
    "licenses",
    "malware",
    "neardedup",
    "notebooks",
    "optout",
    "package_docs",
    "pii",
    "quality",
}
OUTPUTS = {"io", "repo_metadata"}


def floor(module: str) -> int:
    """The floor of ``stack_v2.<top>...``; names the package root defines (``__version__``) are ground."""
    parts = module.split(".")
    if len(parts) == 1 or not ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return 0
    top = parts[1]
    return 0 if top in GROUND else 1 if top in CORES else 2 if top in OUTPUTS else 3 if top == "stages" else 4


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_module_imports_from_a_floor_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for name in imports(path):
            if name.split(".")[0] == "stack_v2" and floor(name) > floor(module):
                upward.append(f"{module} (floor {floor(module)}) imports {name} (floor {floor(name)})")
    assert not upward, "\n".join(sorted(set(upward)))


def test_the_floors_name_modules_that_exist():
    # a stale name would silently move its module to the top floor
    tops = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert GROUND | CORES | OUTPUTS | {"stages"} <= tops


def _module_of(name: str, modules: set[str]) -> str | None:
    """The module file an imported name lives in (``stack_v2.io.card.write_card`` -> ``stack_v2.io.card``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_no_two_modules_import_each_other_through_any_chain():
    paths = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    graph = {
        m: {_module_of(n, set(paths)) for n in imports(p) if n.startswith("stack_v2.")} - {None, m}
        for m, p in paths.items()
    }
    # a package's __init__ is entered before its modules: an edge into it is not part of a loop of modules
    graph = {
        m: {d for d in deps if not (PACKAGE / d.replace("stack_v2.", "", 1).replace(".", "/")).is_dir()}
        for m, deps in graph.items()
    }
    state, circles = {}, []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == "open":
                circles.append(" -> ".join(stack[stack.index(dep) :] + [dep]) if dep in stack else dep)
            elif dep not in state:
                visit(dep, stack + [dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)
