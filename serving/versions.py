"""Which versions of a pushed model are complete: the one definition every reader uses.

A version is complete when its directory is named by an integer (TF Serving only looks at those),
holds ``saved_model.pb`` and passes its push manifest (``serving/manifest.py``): every file the
Pusher wrote, byte for byte, and nothing else. The Pusher builds a version in a staging directory
and renames it into place whole (``serving/push.py``), so a killed push leaves no numbered
directory at all; this check also rejects versions copied by hand, edited after the push, or
written by an older Pusher without a manifest.

Pure standard library (the serving side imports it without TFX).
"""

from __future__ import annotations

import logging
import os

from recsys.serving.manifest import MANIFEST, ManifestError, verify_manifest

log = logging.getLogger(__name__)


def missing_part(version_dir: str) -> str | None:
    """Why ``version_dir`` cannot be a complete version, from a listing alone (no hashing): not
    numbered, no saved_model.pb, or no manifest; None when it may be (then verify the manifest)."""
    if not os.path.basename(os.path.normpath(version_dir)).isdigit():
        return "not a numbered version directory"
    if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
        return "no saved_model.pb (incomplete)"
    if not os.path.isfile(os.path.join(version_dir, MANIFEST)):
        return f"no {MANIFEST} (not pushed by the pipeline, or the push did not finish)"
    return None


def candidate_versions(model_dir: str) -> tuple[list[int], dict[int, str]]:
    """(numbered versions that hold a graph and a manifest, version -> why not for the others).

    Cheap enough for every poll of a server: the manifest's digests are checked once, before a
    version is loaded (``is_complete`` / ``serving.manifest.verify_manifest``).
    """
    ok, refused = [], {}
    if not os.path.isdir(model_dir):
        return ok, refused
    for entry in os.listdir(model_dir):
        if entry.isdigit():  # staging dirs of a push in progress are not: TF Serving skips them too
            why = missing_part(os.path.join(model_dir, entry))
            if why is None:
                ok.append(int(entry))
            else:
                refused[int(entry)] = why
    return sorted(ok), refused


def is_complete(version_dir: str) -> bool:
    """True when ``version_dir`` (``<model_dir>/<V>``) holds saved_model.pb and passes its manifest."""
    if missing_part(version_dir) is not None:
        return False
    try:
        verify_manifest(version_dir)
    except ManifestError as e:
        log.warning("not a complete version: %s", e)
        return False
    return True


def complete_versions(model_dir: str) -> list[int]:
    """The complete versions under ``model_dir`` (``<serving_root>/<model name>``), oldest first."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(v) for v in os.listdir(model_dir)
                  if v.isdigit() and is_complete(os.path.join(model_dir, v)))


def latest_complete_version(model_dir: str) -> int | None:
    """The newest complete version under ``model_dir``, or None."""
    if not os.path.isdir(model_dir):
        return None
    for name in sorted((v for v in os.listdir(model_dir) if v.isdigit()), key=int, reverse=True):
        if is_complete(os.path.join(model_dir, name)):
            return int(name)
    return None
