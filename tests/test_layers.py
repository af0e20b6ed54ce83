"""The layers' import rules, checked in fresh interpreters (an import made by another test can't hide a breach)."""

from __future__ import annotations

import json
import subprocess
import sys

_IMPORT_ALL_AND_LIST = """
import importlib, json, pkgutil, sys
import {package} as package
names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({{"imported": names, "loaded": sorted(sys.modules)}}))
"""


def _import_every_module_of(package: str) -> dict[str, list[str]]:
    code = _IMPORT_ALL_AND_LIST.format(package=package)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_inference_never_imports_training():
    result = _import_every_module_of("faceaug.inference")
    assert "faceaug.inference.singan" in result["imported"]
    training = [name for name in result["loaded"] if name == "faceaug.training" or name.startswith("faceaug.training.")]
    assert training == [], f"importing faceaug.inference loads {training}"
