"""The import directions of docs/architecture.md, read statically from every module's imports (function-level
imports included): a layer never imports a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "faceaug"

#: layer (a package under faceaug/) → the faceaug packages it must never import
FORBIDDEN = {
    "io": ("models", "inference", "training", "pipeline", "metrics", "commands", "cli", "preprocess", "synth"),
    "models": ("inference", "training", "pipeline", "metrics", "commands", "cli"),
    "inference": ("training", "pipeline", "metrics", "commands", "cli"),
    "training": ("pipeline", "metrics", "commands", "cli"),
    "preprocess": ("models", "inference", "training", "pipeline", "metrics", "commands", "cli"),
    "pipeline": ("commands", "cli"),
    "metrics": ("training", "pipeline", "commands", "cli"),
    "fer": ("training", "pipeline", "metrics", "commands", "cli"),
    "report": ("training", "pipeline", "commands", "cli"),
    # the bundled weights and which editor a command uses: read by inference-side code, so it reads nothing above io
    "pretrained": (
        "models",
        "inference",
        "training",
        "pipeline",
        "metrics",
        "commands",
        "cli",
        "fer",
        "preprocess",
        "synth",
    ),
    # the data layer: the synthetic world renders and writes faces with numpy/OpenCV, trains its oracles itself
    "synth": ("models", "inference", "training", "pipeline", "metrics", "commands", "cli", "fer", "report"),
}
#: the base layer: top-level modules and the config package, importing each other only, plus io's dependency-free
#: atomic writer (config and schema write atomically) and format-version check (schema) and, for config, the
#: architecture configs of models/ganimation_config.py (no torch)
BASE = {
    "aus",
    "labels",
    "splits",
    "config",
    "schema",
    "console",
    "device",
    "cpus",
    "heap",
    "errors",
    "interrupts",
    "__version__",
}
BASE_EXTRA = {"config": {"io", "models"}, "schema": {"io"}}
#: `python -m` tools that are commands in all but name (none at present)
TOOLS: set[str] = set()
#: the top layers (packages): they may import every layer below, and only the CLI imports the commands
TOP = {"cli", "commands"}


def _faceaug_imports(path: Path) -> set[str]:
    """The faceaug subpackages/modules a file imports (first component after `faceaug.`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + (
                [f"{node.module}.{a.name}" for a in node.names] if node.module == "faceaug" else []
            )
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        names |= {m.split(".")[1] for m in modules if m.startswith("faceaug.")}
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_a_layer_above_it(layer):
    assert _modules(layer), f"faceaug/{layer}/ is empty"
    broken = {
        str(p.relative_to(PACKAGE.parent)): sorted(_faceaug_imports(p) & set(FORBIDDEN[layer])) for p in _modules(layer)
    }
    assert not {k: v for k, v in broken.items() if v}


def _base_files(module: str) -> list[Path]:
    """A base module's file, or every file of a base package (config)."""
    single = PACKAGE / f"{module}.py"
    return [single] if single.is_file() else _modules(module)


@pytest.mark.parametrize("module", sorted(BASE - {"__version__"}))
def test_the_base_modules_import_nothing_above_them(module):
    files = _base_files(module)
    assert files, f"no faceaug/{module}.py or faceaug/{module}/"
    allowed = BASE | BASE_EXTRA.get(module, set())
    broken = {str(p.relative_to(PACKAGE.parent)): sorted(_faceaug_imports(p) - allowed) for p in files}
    assert not {k: v for k, v in broken.items() if v}


def test_every_package_has_its_layer_rule():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= set(FORBIDDEN) | TOP | BASE, packages - set(FORBIDDEN) - TOP - BASE
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules <= BASE, modules - BASE


def _importers_of(name: str) -> set[str]:
    """The files outside faceaug/<name>/ that import faceaug.<name>."""
    return {
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if name in _faceaug_imports(p) and p.parent.name != name
    }


def test_only_the_cli_and_tools_import_the_commands():
    importers = _importers_of("commands")
    assert all(p.startswith("faceaug/cli/") or p in TOOLS for p in importers), importers


def test_nothing_but_python_m_imports_the_cli():
    assert _importers_of("cli") <= {"faceaug/__main__.py"}


def test_the_rule_reader_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from faceaug.training.singan import train_singan\n")
    assert _faceaug_imports(module) == {"training"}
