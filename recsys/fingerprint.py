"""A hash of the project's own source, for caches that cannot see code changes by themselves."""

from __future__ import annotations

import hashlib
import importlib.util
import os


def package_dir(package: str) -> str:
    """The folder of ``recsys`` or of its subpackage ``recsys.<package>``, wherever it is: the
    checkout's top-level folder (``models/``) or the installed wheel's ``recsys/models/``. Found
    without importing the subpackage."""
    spec = importlib.util.find_spec("recsys" if package == "recsys" else f"recsys.{package}")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"source_fingerprint: {package!r} is not a package of recsys")
    return list(spec.submodule_search_locations)[0]


def source_fingerprint(*packages: str) -> str:
    """sha256 (16 hex digits) over every ``.py`` file's name and bytes under the given packages
    (``recsys`` or its subpackages by folder name: ``models``, ``data``, ...)."""
    h = hashlib.sha256()
    for pkg in packages:
        for dirpath, _, files in sorted(os.walk(package_dir(pkg))):
            for name in sorted(files):
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name), "rb") as fh:
                        h.update(name.encode() + fh.read())
    return h.hexdigest()[:16]
