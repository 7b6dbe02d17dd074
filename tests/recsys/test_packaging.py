"""The wheel installs one top-level package, ``recsys``, and the ``recsys`` command; installed, the
subpackages import under the same names as in the checkout (``recsys.models``, ...)."""

from __future__ import annotations

import glob
import os
import shutil
import site
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("data", "models", "training", "evaluation", "components", "pipeline", "serving")


def _wheel(tmp_path) -> str:
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv*", ".git", "runs", "build", "*.egg-info", "__pycache__", "notebooks", "tests", ".whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    [wheel] = glob.glob(str(tmp_path / "dist" / "*.whl"))
    return wheel


def test_wheel_has_one_top_level_package_and_the_command(tmp_path):
    wheel = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"recsys"}
    for package in PACKAGES:
        assert f"recsys/{package}/__init__.py" in names
    for module in ("recsys/cli.py", "recsys/features.py", "recsys/models/dcn.py",
                   "recsys/training/ranker.py", "recsys/evaluation/gauc.py",
                   "recsys/components/transform.py", "recsys/serving/recommend.py"):
        assert module in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]" in text and "recsys = recsys.cli:main" in text

    # Installed (unpacked into a directory, run from elsewhere): the same names, from the wheel.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), wheel], check=True, capture_output=True)
    code = ("import recsys, recsys.features, recsys.serving.ab, recsys.evaluation.metrics; "
            "print(len(recsys.__path__), recsys.serving.ab.__file__, recsys.evaluation.metrics.__file__)")
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    # -S: without site, the checkout's editable-install hook is not loaded; the venv's
    # site-packages are appended for the third-party dependencies only.
    deps = [p for p in site.getsitepackages()]
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path += {deps!r}; " + code],
                         env=env, cwd=str(tmp_path), capture_output=True, text=True, check=True)
    count, ab, metrics = out.stdout.split()
    assert count == "1"  # no checkout beside it: nothing added to the search path
    assert ab.startswith(str(target)) and metrics.startswith(str(target))
