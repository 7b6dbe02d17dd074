"""A hash of the project's own source, for caches that cannot see code changes by themselves."""

from __future__ import annotations

import hashlib
import os

from recsys.config import REPO_ROOT


def source_fingerprint(*packages: str) -> str:
    """sha256 (16 hex digits) over every ``.py`` file's name and bytes under the given top-level
    packages of the repository."""
    h = hashlib.sha256()
    for pkg in packages:
        for dirpath, _, files in sorted(os.walk(os.path.join(REPO_ROOT, pkg))):
            for name in sorted(files):
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name), "rb") as fh:
                        h.update(name.encode() + fh.read())
    return h.hexdigest()[:16]
