"""The push manifest: sha256 of every file of a pushed model version, written by the Pusher and
checked by the model server before it loads the version.

A SavedModel is code (its graph runs whatever ops it names), so the server loads only what the
pipeline pushed: a version directory without a manifest, with a file whose bytes changed, or with a
file the manifest does not list is refused. The manifest is the last file written into a version
(after ``saved_model.pb``), and versions are renamed into place whole (``serving/push.py``),
so a version being written is never visible under its number.

Pure standard library: the Pusher (TFX side) and the server (serving side) both import it.
"""

from __future__ import annotations

import hashlib
import json
import os

MANIFEST = "push_manifest.json"


class ManifestError(ValueError):
    """A version directory that must not be served; the message says which file and why."""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digests(version_dir: str) -> dict[str, str]:
    """Relative path (``/``-separated) -> sha256 of every file under ``version_dir`` but the manifest."""
    out = {}
    for dirpath, dirnames, files in os.walk(version_dir):
        dirnames.sort()
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, version_dir).replace(os.sep, "/")
            if rel != MANIFEST:
                out[rel] = _sha256(full)
    return out


def write_manifest(version_dir: str, **extra) -> dict:
    """Writes ``<version_dir>/push_manifest.json`` over the files present now; returns it.

    ``extra`` (e.g. ``model``, ``version``, ``run_id``) is recorded beside the digests.
    """
    manifest = {**extra, "files": file_digests(version_dir)}
    tmp = os.path.join(version_dir, MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(version_dir, MANIFEST))
    return manifest


def verify_manifest(version_dir: str) -> dict:
    """The manifest of ``version_dir`` if every file matches it exactly; ``ManifestError`` otherwise."""
    path = os.path.join(version_dir, MANIFEST)
    if not os.path.exists(path):
        raise ManifestError(f"{version_dir}: no {MANIFEST} (not pushed by the pipeline, or the push "
                            f"did not finish)")
    try:
        with open(path) as fh:
            manifest = json.load(fh)
        expected = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as e:
        raise ManifestError(f"{path}: unreadable manifest ({e})") from None
    actual = file_digests(version_dir)
    for rel, digest in sorted(expected.items()):
        if rel not in actual:
            raise ManifestError(f"{version_dir}: {rel} is listed in {MANIFEST} but missing")
        if actual[rel] != digest:
            raise ManifestError(f"{version_dir}: {rel} has sha256 {actual[rel][:12]}..., the manifest "
                                f"says {digest[:12]}...")
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise ManifestError(f"{version_dir}: {extra[0]} is not in {MANIFEST} (added after the push)")
    return manifest
