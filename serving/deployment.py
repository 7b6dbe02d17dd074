"""The deployment record: which versions of the ranker and the retriever are served together.

Both pushers version by the pipeline run, but a run does not always push both: a ranker-only
change leaves the RetrievalPusher cached (it reuses the retriever's earlier version), and a model
that fails its gate is not pushed at all. "The newest version present under both" then names no
pair, or an old one. Instead every pipeline run whose models were all pushed writes one record::

    <serving_root>/deployments/<run version>.json
    {"run_id": "2026-11-30T21:00:05.123456", "created": 1764536410,
     "models": {"ranker": {"version": 1764536405, "base_path": "/abs/runs/serving/ranker"},
                "retriever": {"version": 1764449999, "base_path": "/abs/runs/serving/retriever"}}}

Models are keyed by their TF Serving name, which is also their directory under the serving root.
The newest record is what ``serving/stack.py`` turns into a TF Serving models.config. Records are
written atomically (temporary file + rename); a record naming a version that is not complete
(``serving/versions.py``: missing, half-written, or failing its push manifest) is refused when
written and skipped, with a warning, when read.

Pure standard library.
"""

from __future__ import annotations

import json
import logging
import os
import time

from recsys.serving.versions import is_complete

log = logging.getLogger(__name__)

DIRECTORY = "deployments"


class DeploymentError(ValueError):
    """A deployment record that must not be served; the message names the model and version."""


def _check(serving_root: str, models: dict, verified: dict | None = None) -> None:
    """Raises ``DeploymentError`` unless every model names a complete version under the root.

    ``verified`` memoises ``is_complete`` across records (it hashes every file of a version).
    """
    verified = {} if verified is None else verified
    if not models:
        raise DeploymentError("a deployment names at least one model")
    for name, entry in models.items():
        version, base_path = int(entry["version"]), entry["base_path"]
        if os.path.normpath(base_path) != os.path.join(serving_root, name):
            raise DeploymentError(f"{name}: base_path {base_path} is not <serving_root>/{name} "
                                  f"({os.path.join(serving_root, name)}); TF Serving finds models "
                                  f"by name under one mounted serving root")
        version_dir = os.path.join(base_path, str(version))
        if version_dir not in verified:
            verified[version_dir] = is_complete(version_dir)
        if not verified[version_dir]:
            raise DeploymentError(f"{name}: version {version} under {base_path} is not a complete "
                                  f"push (missing, unfinished, or failing its push manifest)")


def record_deployment(serving_root: str, run_id: str | None,
                      models: dict[str, tuple[int | str, str]], *, record_id: str | None = None,
                      now: float | None = None) -> dict:
    """Writes ``<serving_root>/deployments/<record_id>.json`` and returns the record.

    ``models``: TF Serving model name -> (version, base_path). ``record_id`` defaults to the
    newest of the versions (the run version, when this run pushed anything). Raises
    ``DeploymentError`` when a named version is not complete.
    """
    serving_root = os.path.abspath(serving_root)
    entries = {name: {"version": int(version), "base_path": os.path.abspath(base_path)}
               for name, (version, base_path) in sorted(models.items())}
    _check(serving_root, entries)
    record = {"run_id": run_id, "created": int(time.time() if now is None else now),
              "models": entries}
    record_id = record_id or str(max(e["version"] for e in entries.values()))
    if not record_id.isdigit():
        raise DeploymentError(f"record id {record_id!r}: expected unix seconds")
    directory = os.path.join(serving_root, DIRECTORY)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{record_id}.json")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return record


def deployments(serving_root: str, limit: int | None = None) -> list[dict]:
    """The servable deployment records under ``serving_root``, oldest first (the newest ``limit``).

    Each record gets ``"id"`` (its file name's number). Unreadable records, and records naming a
    version that is no longer complete, are skipped with a warning.
    """
    serving_root = os.path.abspath(serving_root)
    directory = os.path.join(serving_root, DIRECTORY)
    if not os.path.isdir(directory):
        return []
    stems = sorted((os.path.splitext(n)[0] for n in os.listdir(directory)
                    if n.endswith(".json") and os.path.splitext(n)[0].isdigit()),
                   key=int, reverse=True)  # temporary files of a record being written never match
    found, verified = [], {}
    for stem in stems:
        if limit is not None and len(found) >= limit:
            break
        path = os.path.join(directory, stem + ".json")
        try:
            with open(path) as fh:
                record = json.load(fh)
            _check(serving_root, record["models"], verified)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("skipping deployment record %s: %s", path, e)
            continue
        found.append({**record, "id": int(stem)})
    return found[::-1]


def latest_deployment(serving_root: str) -> dict | None:
    """The newest servable deployment record, or None when there is none."""
    found = deployments(serving_root, limit=1)
    return found[-1] if found else None
