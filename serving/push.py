"""Publishing a model version whole or not at all, never twice, and numbered by pipeline run.

**Atomic.** Copying straight into ``<base>/<V>/`` (as the stock TFX Pusher does, ``saved_model.pb``
last), a push killed half-way leaves a numbered directory that TF Serving, ``recsys score`` and the
deployment record would take for a served version. ``push_version`` copies into a staging
directory ``<base>/.partial-<V>-<pid>`` (not all digits: TF Serving ignores it), writes the push
manifest (sha256 of every file, ``serving/manifest.py``) there last, and ``os.rename``s it to
``<base>/<V>``, which is atomic on one filesystem. Staging directories left by killed pushes are
removed by the next push. Local filesystems only (a directory rename on object stores is not
atomic).

**Idempotent.** A pipeline re-run with nothing changed re-evaluates the (cached) model once -- the
Resolver now finds a blessed baseline it did not have before -- blesses it again, and a plain push
would publish an identical copy as a new version, making TF Serving reload for nothing.
``find_identical_version`` finds a complete version (``serving/versions.py``) whose files are
byte-identical to the candidate (the manifest aside), which the Pusher then records as the push.

**Versioned by run.** ``run_version`` is the pipeline run's start time (unix seconds) rather than
the push time, so the ranker and the retriever pushed by one run share a version number. Which
versions are served together is the deployment record's job (``serving/deployment.py``), since
a ranker-only change reuses the retriever's earlier version.

The TFX Pusher executor over these is ``components/pusher.py``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import time

# absl, as TFX's own Pusher logs: these lines land in the run's log beside the component's.
from absl import logging

from recsys.serving.manifest import ManifestError, file_digests, verify_manifest, write_manifest

PARTIAL_PREFIX = ".partial-"


def run_version(pipeline_run_id: str | None) -> str:
    """Unix seconds of the run's start (LocalDagRunner's run id is an ISO timestamp); now otherwise."""
    try:
        return str(int(datetime.datetime.fromisoformat(pipeline_run_id or "").timestamp()))
    except ValueError:
        return str(int(time.time()))


def tree_digest(path: str) -> str:
    """sha256 over every file's relative path and bytes under ``path``, the push manifest aside
    (a pushed version has one, the Trainer's model does not)."""
    h = hashlib.sha256()
    for rel, digest in sorted(file_digests(path).items()):
        h.update(rel.encode() + b"\0" + digest.encode())
    return h.hexdigest()


def find_identical_version(model_path: str, base_directory: str) -> str | None:
    """The complete version under ``base_directory`` holding exactly ``model_path``, if any.

    Only numbered directories whose manifest verifies count: a version that was tampered with, or
    pushed without a manifest, is never reused as "already served".
    """
    if not os.path.isdir(base_directory):
        return None
    wanted = file_digests(model_path)
    for version in sorted((v for v in os.listdir(base_directory) if v.isdigit()), key=int,
                          reverse=True):  # newest first
        candidate = os.path.join(base_directory, version)
        if not os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            continue
        try:
            manifest = verify_manifest(candidate)
        except ManifestError as e:
            logging.warning("not reusing version %s: %s", version, e)
            continue
        if manifest["files"] == wanted:
            return version
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def remove_partial_pushes(base_directory: str) -> list[str]:
    """Removes staging directories left by killed pushes (their process is gone); returns them.

    A staging directory of a push still running in another live process is left alone.
    """
    if not os.path.isdir(base_directory):
        return []
    removed = []
    for name in sorted(os.listdir(base_directory)):
        if not name.startswith(PARTIAL_PREFIX):
            continue
        pid = name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(base_directory, name), ignore_errors=True)
        removed.append(name)
    return removed


def push_version(model_path: str, base_directory: str, version: str, *, run_id: str | None) -> str:
    """Publishes ``model_path`` as ``<base_directory>/<version>`` atomically; returns that path.

    Copy into ``.partial-<version>-<pid>``, write the manifest last, rename into place. Refuses to
    replace an existing version (a served version never changes under its number).
    """
    os.makedirs(base_directory, exist_ok=True)
    removed = remove_partial_pushes(base_directory)
    if removed:
        logging.warning("removed %d unfinished push(es) left under %s by killed runs: %s",
                        len(removed), base_directory, ", ".join(removed))
    final = os.path.join(base_directory, version)
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists but is not this model (or fails its push manifest); "
                              f"a version is never overwritten under its number")
    staging = os.path.join(base_directory, f"{PARTIAL_PREFIX}{version}-{os.getpid()}")
    try:
        shutil.copytree(model_path, staging)
        write_manifest(staging, model=os.path.basename(os.path.normpath(base_directory)),
                       version=int(version), run_id=run_id)
        os.rename(staging, final)  # atomic: TF Serving sees no version, then the whole one
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a SIGKILL skips this: the next push cleans
        raise
    return final
