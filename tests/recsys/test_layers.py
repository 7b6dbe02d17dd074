"""The packages point one way: walks every module's imports (the AST, so nothing is executed) and
fails on an import of a higher layer (``recsys.LAYERS``: config/features < data, serving < models
< training < evaluation < components < pipeline < cli), on the serving package importing anything
but the config, the feature contract and itself, and on a module imported by its old top-level
name (``models.x`` instead of ``recsys.models.x``: two names would load it twice)."""

from __future__ import annotations

import ast
import importlib.util
import os

import pytest

import recsys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDERS = {"data": "data", "serving": "serving", "models": "models", "training": "training",
           "evaluation": "evaluation", "components": "components", "pipeline": "pipeline"}
SERVING_MAY_IMPORT = ("recsys.config", "recsys.features", "recsys.serving")


def layer_of(module: str) -> int:
    """``recsys.models.x`` -> the index of ``models`` in ``recsys.LAYERS``."""
    parts = module.split(".")
    assert parts[0] == "recsys", module
    name = parts[1] if len(parts) > 1 else "config"
    for i, layer in enumerate(recsys.LAYERS):
        if name in layer:
            return i
    raise AssertionError(f"{module}: not in any layer of recsys.LAYERS; add it there")


def project_modules():
    """(module name, file) of every project module, under its installed name."""
    for sub, folder in [("", "recsys")] + [(k + ".", v) for k, v in FOLDERS.items()]:
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in sorted(files):
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), os.path.join(ROOT, folder))
                    name = rel[:-3].replace(os.sep, ".").removesuffix("__init__").rstrip(".")
                    yield ".".join(p for p in ("recsys", sub.rstrip("."), name) if p), os.path.join(dirpath, f)


def imports(path: str) -> list[tuple[int, str]]:
    tree = ast.parse(open(path).read(), path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            if node.module == "recsys":  # ``from recsys import x``: x is a module of the package
                out += [(node.lineno, f"recsys.{a.name}") for a in node.names]
    return out


def violations(module: str, path: str) -> list[str]:
    found = []
    own = layer_of(module)
    for line, target in imports(path):
        top = target.split(".")[0]
        where = f"{os.path.relpath(path, ROOT)}:{line} imports {target}"
        if top in FOLDERS:
            found.append(f"{where}: use recsys.{target}")
        if top != "recsys" or target == "recsys":
            continue
        try:
            exists = importlib.util.find_spec(target) is not None
        except ModuleNotFoundError:
            exists = False
        if not exists:
            found.append(f"{where}: no such module")
            continue
        if layer_of(target) > own:
            found.append(f"{where}: upward, layer {layer_of(target)} > {own} ({module})")
        if module.startswith("recsys.serving") and not target.startswith(SERVING_MAY_IMPORT):
            found.append(f"{where}: serving may import only {SERVING_MAY_IMPORT}")
    return found


def test_no_upward_imports():
    modules = list(project_modules())
    assert len(modules) > 50 and any(m == "recsys.training.ranker" for m, _ in modules)
    bad = [v for m, p in modules for v in violations(m, p)]
    assert not bad, "\n".join(bad)


def test_the_check_catches_an_upward_import(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("from recsys.pipeline.pipeline import create_pipeline\nimport models.dcn\n")
    found = violations("recsys.models.bad", str(path))
    assert any("upward" in v for v in found) and any("use recsys.models.dcn" in v for v in found)
    path.write_text("from recsys import metrics\n")  # moved to recsys.evaluation
    assert any("no such module" in v for v in violations("recsys.evaluation.bad", str(path)))
    path.write_text("from recsys.training.ranker import train_and_export\n")
    assert any("serving may import only" in v for v in violations("recsys.serving.bad", str(path)))


@pytest.mark.parametrize("package", sorted(FOLDERS))
def test_checkout_imports_the_installed_names(package):
    """In the checkout ``recsys.<package>`` is the top-level folder, as the wheel maps it."""
    import importlib

    module = importlib.import_module(f"recsys.{package}")
    assert os.path.dirname(module.__file__) == os.path.join(ROOT, FOLDERS[package])


def test_importing_the_package_sets_nothing(monkeypatch):
    """No import is needed for its side effect: importing recsys (fresh) leaves the environment
    alone; the Keras switch is set where a process starts."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = ("import os, recsys, recsys.config, recsys.features, recsys.serving; "
            "print(os.environ.get('TF_USE_LEGACY_KERAS'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "None"
