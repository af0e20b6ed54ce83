"""pyproject.toml says what the code needs: every dependency is used, every import is declared, the Python floor."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Distribution name → import name, where they differ.
IMPORT_NAMES = {"opencv-python-headless": "cv2", "scikit-image": "skimage", "dlib-bin": "dlib"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _import_name(requirement: str) -> str:
    dist = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0).lower()
    return IMPORT_NAMES.get(dist, dist.replace("-", "_"))


def _imported_by_faceaug() -> set[str]:
    """Top-level names of every absolute import in faceaug/, including imports inside functions."""
    names = set()
    for path in (ROOT / "faceaug").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_runtime_dependency_is_imported():
    imported = _imported_by_faceaug()
    unused = [req for req in _project()["project"]["dependencies"] if _import_name(req) not in imported]
    assert not unused, f"declared in pyproject.toml but never imported under faceaug/: {unused}"


def test_every_third_party_import_is_declared():
    project = _project()["project"]
    declared = {_import_name(req) for req in project["dependencies"]}
    declared |= {_import_name(req) for reqs in project["optional-dependencies"].values() for req in reqs}
    third_party = _imported_by_faceaug() - set(sys.stdlib_module_names) - {"faceaug"}
    assert third_party <= declared, f"imported but not declared: {sorted(third_party - declared)}"


def test_requires_python_covers_what_the_code_uses():
    spec = _project()["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)", spec.strip())
    assert match and int(match.group(1)) >= 11, f"requires-python {spec!r}: the code uses tomllib (3.11+)"


def test_ray_is_only_the_ray_extra():
    extras = _project()["project"]["optional-dependencies"]
    assert [_import_name(req) for req in extras["ray"]] == ["ray"]
    assert all("ray" not in _import_name(req) for name, reqs in extras.items() if name != "ray" for req in reqs)


def test_spdx_license_string_has_a_setuptools_that_reads_it():
    pyproject = _project()
    if isinstance(pyproject["project"].get("license"), str):  # PEP 639 form, setuptools 77+
        setuptools = next(req for req in pyproject["build-system"]["requires"] if _import_name(req) == "setuptools")
        major = re.search(r">=\s*(\d+)", setuptools)
        assert major and int(major.group(1)) >= 77, setuptools
