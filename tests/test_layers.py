"""The floor plan of the library: each stage imports only the stages below it, and no module reaches into another's
private names. Read from the source (every import, also those inside functions), nothing is executed.

    foundation (io, logs, errors, …)  →  benchmark, models  →  answering  →  scoring, analyses  →  figures
                                                                                     ↑ the workflow side (config,
                                                                                       preflight) may use them all
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mubench"

# Stage → rank; a module may import its own stage and lower ranks only (peers of one rank stay apart).
STAGES = {"benchmark": 1, "models": 1, "answering": 2, "scoring": 3, "analyses": 3, "figures": 4}
FOUNDATION = {"__init__", "io", "logs", "redaction", "provenance", "resources", "errors", "hf_cache", "checks",
              "registry", "multiplicity"}
WORKFLOW = {"config", "preflight"}  # read the config and the host for the Snakefile: above every stage


def layer(module: str) -> tuple[int, str]:
    """(rank, group) of a dotted module name below ``mubench``."""
    top = module.split(".")[1] if module.count(".") else "__init__"
    if top in FOUNDATION:
        return 0, "foundation"
    if top in STAGES:
        return STAGES[top], top
    if top in WORKFLOW:
        return 9, "workflow"
    raise AssertionError(f"mubench.{top} belongs to no layer: add it to tests/test_layers.py")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported mubench module, names taken from it, line) for every import in the file."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("mubench")]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([target] if target else []))
            if target.startswith("mubench"):
                found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


MODULES = modules()


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != "mubench":
            layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_lower_stages(module):
    if module == "mubench":
        return
    rank, group = layer(module)
    for target, _, line in imports(MODULES[module], module):
        if target == "mubench":
            continue  # the package itself: its version
        target_rank, target_group = layer(target)
        allowed = target_group == group or target_rank < rank
        assert allowed, (f"{module} (line {line}) imports {target}: {group} may import only its own stage and "
                         f"lower ones ({target_group} is rank {target_rank}, {group} rank {rank})")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_takes_another_modules_private_names(module):
    for target, names, line in imports(MODULES[module], module):
        private = [name for name in names if name.startswith("_") and target != module]
        assert not private, f"{module} (line {line}) imports private {private} from {target}: make it public or move it"


def test_paper_figures_readme_names_functions_that_exist():
    """paper_figures/README.md names, per artefact, the function that computes its numbers: each name resolves."""
    import importlib
    import re

    table = (PACKAGE.parent / "paper_figures" / "README.md").read_text().split("## What the columns")[0]
    named = set(re.findall(r"`((?:scoring|analyses|figures|models)\.[a-z_.]+)`", table))
    assert len(named) > 20
    for name in sorted(named):
        module, _, attribute = f"mubench.{name}".rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), f"paper_figures/README.md names {name}"
