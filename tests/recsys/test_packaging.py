"""The wheel installs one top-level package, ``recsys``, and the ``recsys`` command; installed, the
subpackages import under the same names as in the checkout (``recsys.models``, ...), and the
shipped configs (default run config, feature configs, schemas) come with it: the installed command
runs on its default config with no checkout in sight."""

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
    shipped = {os.path.relpath(p, ROOT).replace(os.sep, "/") for p in
               glob.glob(os.path.join(ROOT, "configs", "**", "*.*"), recursive=True)}
    assert {"configs/default.toml", "configs/features/synthetic.toml",
            "configs/schemas/synthetic.pbtxt"} <= shipped
    assert {f"recsys/{p}" for p in shipped} <= set(names)  # every config, feature config, schema
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]" in text and "recsys = recsys.cli:main" in text

    # Installed (unpacked into a directory, run from elsewhere): the same names, from the wheel.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), wheel], check=True, capture_output=True)
    code = ("import recsys, recsys.features, recsys.serving.ab, recsys.evaluation.metrics, recsys.config; "
            "print(len(recsys.__path__), recsys.serving.ab.__file__, recsys.evaluation.metrics.__file__, "
            "recsys.config.DEFAULT_CONFIG_PATH, recsys.config.load_config(None).features_path)")
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    # -S: without site, the checkout's editable-install hook is not loaded; the venv's
    # site-packages are appended for the third-party dependencies only.
    deps = [p for p in site.getsitepackages()]
    out = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path += {deps!r}; " + code],
                         env=env, cwd=str(tmp_path), capture_output=True, text=True, check=True)
    count, ab, metrics, default_config, features = out.stdout.split()
    assert count == "1"  # no checkout beside it: nothing added to the search path
    assert ab.startswith(str(target)) and metrics.startswith(str(target))
    assert default_config == str(target / "recsys" / "configs" / "default.toml")
    assert features == str(target / "recsys" / "configs" / "features" / "synthetic.toml")

    # The installed command itself, on its default config (synthetic data, made tiny): it reads
    # default.toml and the feature config from the wheel, and prepares the data.
    runs = tmp_path / "runs"
    env["PYTHONPATH"] = os.pathsep.join([str(target)] + deps)  # as paths: no .pth hooks run
    out = subprocess.run([sys.executable, "-S", str(target / "bin" / "recsys"), "prepare",
                          "--set", f"pipeline.output_dir={runs}", "--set", "data.num_events=300",
                          "--set", "data.num_users=20", "--set", "data.num_items=10"],
                         env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd=str(tmp_path),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    root, manifest = out.stdout.split("\n", 1)
    assert root.startswith(str(runs))
    assert '"user_activity"' in manifest  # a count slice of configs/features/synthetic.toml
    # The prepared-data cache key hashes the installed data/ package: the same sources, the same key.
    from recsys.fingerprint import source_fingerprint

    assert f'"code": "{source_fingerprint("data")}"' in manifest
