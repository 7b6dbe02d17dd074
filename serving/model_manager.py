"""Which versions of which models are served: TF Serving's model config, version policies, labels,
and hot loading, over the Pusher's ``<base_path>/<version>/`` layout.

* **Config**: a TF Serving ``ModelServerConfig`` (the ``models.config`` text proto real TF Serving
  reads, parsed with TF Serving's own proto): per model a name, base path, version policy
  (``latest { num_versions }`` -- the default, 1 --, ``all {}``, ``specific { versions }``) and
  ``version_labels`` (e.g. ``stable`` / ``canary``).
* **Which directories count**: numeric directories holding ``saved_model.pb`` whose push manifest
  verifies (``serving/manifest.py``): a half-written, tampered or hand-copied version is never
  loaded (it is reported, and retried when it changes).
* **Hot loading** (``poll()``, run every ``poll_seconds`` by ``start()``): new wanted versions are
  loaded -- and their warmup requests replayed -- *before* the served set changes; versions no
  longer wanted are dropped only after that swap, so a request always finds a ready version
  (TF Serving's availability-preserving policy). Requests read one immutable snapshot, so a swap
  never shows them a half-updated state.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
import time
from typing import Callable

from recsys.serving.manifest import MANIFEST, ManifestError, verify_manifest
from recsys.serving.servable import Servable
from recsys.serving.versions import candidate_versions
from recsys.serving.status import ServingError, invalid, not_found

log = logging.getLogger("recsys.serving")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    base_path: str
    policy: str = "latest"  # latest | all | specific
    num_versions: int = 1  # latest
    versions: tuple[int, ...] = ()  # specific
    labels: tuple[tuple[str, int], ...] = ()  # (label, version)

    def wanted(self, on_disk: list[int]) -> list[int]:
        if self.policy == "all":
            return sorted(on_disk)
        if self.policy == "specific":
            return sorted(v for v in self.versions if v in on_disk)
        return sorted(on_disk)[-self.num_versions:] if self.num_versions > 0 else []


def parse_model_config(text: str, source: str = "models.config") -> list[ModelSpec]:
    """TF Serving's ``ModelServerConfig`` text proto -> specs; errors name the model and field."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ValueError(f"{source}: not a TF Serving ModelServerConfig text proto: {e}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{source}: expected a model_config_list")
    specs, names = [], set()
    for c in config.model_config_list.config:
        if not c.name or "/" in c.name or c.name in (".", ".."):
            raise ValueError(f"{source}: model name {c.name!r} is empty or not a plain name")
        if c.name in names:
            raise ValueError(f"{source}: model {c.name!r} is configured twice")
        names.add(c.name)
        if c.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{source}: model {c.name!r}: platform {c.model_platform!r}; only "
                             f"'tensorflow' is served")
        if not c.base_path:
            raise ValueError(f"{source}: model {c.name!r} has no base_path")
        which = c.model_version_policy.WhichOneof("policy_choice") or "latest"
        policy = c.model_version_policy
        specs.append(ModelSpec(
            name=c.name, base_path=os.path.abspath(c.base_path), policy=which,
            num_versions=(policy.latest.num_versions or 1) if which == "latest" else 1,
            versions=tuple(policy.specific.versions) if which == "specific" else (),
            labels=tuple(sorted(c.version_labels.items()))))
    return specs


def _fingerprint(path: str) -> tuple:
    """Changes when a version directory, its graph or its manifest is rewritten."""
    return tuple(os.stat(p).st_mtime_ns if os.path.exists(p) else 0
                 for p in (path, os.path.join(path, "saved_model.pb"), os.path.join(path, MANIFEST)))


@dataclasses.dataclass(frozen=True)
class ModelState:
    """What requests see of one model: an immutable snapshot, swapped whole."""

    spec: ModelSpec
    available: dict[int, Servable]
    labels: dict[str, int]
    errors: dict[int, str]  # versions that failed to load or verify: version -> message


class ModelManager:
    """Keeps the configured models' wanted versions loaded; answers lookups by version or label."""

    def __init__(self, specs: list[ModelSpec] | Callable[[], list[ModelSpec]], *,
                 poll_seconds: float = 2.0, warmup: bool = True):
        """``specs``: the models to serve, or a function re-read at every poll (TF Serving's
        ``--model_config_file_poll_wait_seconds``: a changed config is applied without a restart)."""
        self.poll_seconds = poll_seconds
        self.warmup = warmup
        self._config_source = specs if callable(specs) else (lambda: specs)
        self._states: dict[str, ModelState] = {}
        self._apply_config(self._config_source())
        # (model, version) -> (fingerprint when it failed, why): not retried until it changes.
        self._failed: dict[tuple[str, int], tuple[tuple, str]] = {}
        self._lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- loading -------------------------------------------------------------------------------
    def _apply_config(self, specs: list[ModelSpec]) -> None:
        """New specs keep what is loaded; the next poll loads and unloads to match them."""
        states = {}
        for spec in specs:
            old = self._states.get(spec.name)
            if old and old.spec.base_path == spec.base_path:
                # Labels that still point at a loaded version answer during the reload too.
                labels = {k: v for k, v in spec.labels if v in old.available}
                states[spec.name] = ModelState(spec, old.available, labels, old.errors)
            else:
                states[spec.name] = ModelState(spec, {}, {}, {})
        self._states = states

    def poll(self) -> None:
        with self._lock:
            try:
                specs = self._config_source()
            except (OSError, ValueError) as e:  # a bad edit of the config: keep the current one
                log.error("model config not reloaded: %s", e)
                specs = [s.spec for s in self._states.values()]
            served = self._served()
            if specs != [s.spec for s in self._states.values()]:
                log.info("model config changed: %s", [s.name for s in specs])
                self._apply_config(specs)
            for name in list(self._states):
                self._poll_model(name)
            if self._served() != served:
                self._refreeze()

    def _served(self) -> set[tuple[str, int]]:
        return {(name, v) for name, state in self._states.items() for v in state.available}

    @staticmethod
    def _refreeze() -> None:
        """A loaded SavedModel is a large, long-lived object graph; left to the cyclic GC, every
        full collection walks it and stalls requests for 100+ ms. Freezing moves what exists now
        out of the collector's view (request garbage is still collected). But a frozen object is
        never collected: an unloaded version (TF objects hold reference cycles) would stay in
        memory for good (~43 MB per swap of the default ranker). So after every load or unload:
        unfreeze, collect what is no longer served (one full collection per change), freeze again."""
        start = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        collected = time.perf_counter()
        _release_free_memory()
        # Logged: the collection holds the GIL, so it is a stall of every request in the process.
        log.info("served versions changed: full GC collection %.0f ms, malloc_trim %.0f ms",
                 1000 * (collected - start), 1000 * (time.perf_counter() - collected))

    def _poll_model(self, name: str) -> None:
        state = self._states[name]
        spec = state.spec
        on_disk, refused = candidate_versions(spec.base_path)
        errors = {v: f"{os.path.join(spec.base_path, str(v))}: {why}" for v, why in refused.items()}
        loaded = dict(state.available)
        while True:
            # A version that failed to verify or load (and is unchanged since) is not a candidate:
            # the policy then falls back to the next one, so a bad push never replaces a good model.
            failed = {v for v in on_disk if v not in loaded and self._failed.get((name, v), (None,))[0]
                      == _fingerprint(os.path.join(spec.base_path, str(v)))}
            for v in failed:
                errors[v] = self._failed[(name, v)][1]
            wanted = spec.wanted([v for v in on_disk if v not in failed])
            new_failure = False
            for version in wanted:
                if version not in loaded:
                    servable = self._load(name, version, os.path.join(spec.base_path, str(version)))
                    if servable is None:
                        new_failure = True
                    else:
                        loaded[version] = servable
            if not new_failure:
                break
        available = {v: loaded[v] for v in wanted if v in loaded}
        if not available and state.available and not wanted:
            # Every version vanished from disk: keep serving what is loaded rather than nothing
            # (TF Serving does the same until a new version appears).
            available = state.available
        labels = {}
        for label, version in spec.labels:
            if version in available:
                labels[label] = version
            else:
                errors.setdefault(version, f"label {label!r} points to version {version}, which is "
                                           f"not available")
        self._states[name] = ModelState(spec, available, labels, errors)  # the swap
        for version in set(state.available) - set(available):
            log.info("unloaded %s version %d", name, version)

    def _load(self, name: str, version: int, path: str) -> Servable | None:
        fingerprint = _fingerprint(path)
        try:
            verify_manifest(path)  # every byte, once, before the SavedModel (code) is loaded
            servable = Servable(name, version, path)
            replayed = self._replay_warmup(servable)
        except Exception as e:  # a bad SavedModel must not take the server down
            message = str(e) if isinstance(e, ManifestError) else \
                f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
            self._failed[(name, version)] = (fingerprint, message)
            log.error("could not load %s version %d: %s", name, version, message)
            return None
        log.info("loaded %s version %d in %.1fs (%d warmup requests)", name, version,
                 servable.load_seconds, replayed)
        return servable

    def _replay_warmup(self, servable: Servable) -> int:
        if not self.warmup:
            return 0
        # TF Serving replays assets.extra/tf_serving_warmup_requests at load; so do we, through the
        # same call path as a request, so the first real request does not pay for tracing.
        if not os.path.exists(os.path.join(servable.path, "assets.extra", "tf_serving_warmup_requests")):
            return 0
        from recsys.serving import warmup

        requests = warmup.read_warmup(servable.path)
        for signature_name, inputs in requests:
            servable.run(signature_name, inputs)
        return len(requests)

    def start(self) -> "ModelManager":
        """Loads everything once (blocking), then polls in a daemon thread."""
        self.poll()
        self._thread = threading.Thread(target=self._run, name="model-poller", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # keep polling whatever one scan met
                log.exception("model poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    # ---- lookups -------------------------------------------------------------------------------
    def state(self, name: str) -> ModelState:
        state = self._states.get(name)
        if state is None:
            raise not_found(f"Could not find any versions of model {name}")
        return state

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names (TF Serving's messages and codes)."""
        if version is not None and label is not None:
            raise invalid(f"Both model version ({version}) and model version label ({label}) "
                          f"cannot be supplied.")
        state = self._states.get(name)
        if label is not None:
            if state is None or label not in state.labels:
                raise invalid(f"Unrecognized servable version label: {label}")
            version = state.labels[label]
        if state is None or not state.available:
            raise not_found(f"Servable not found for request: Latest({name})" if version is None
                            else f"Servable not found for request: Specific({name}, {version})")
        if version is None:
            return state.available[max(state.available)]
        if version not in state.available:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return state.available[version]

    def status(self, name: str, version: int | None = None, label: str | None = None) -> list[dict]:
        """``model_version_status`` entries (newest first), as TF Serving's GetModelStatus."""
        state = self._states.get(name)
        if state is None:
            raise not_found(f"Could not find any versions of model {name}")
        if label is not None:
            if label not in state.labels:
                raise invalid(f"Unrecognized servable version label: {label}")
            version = state.labels[label]
        entries = {v: ("AVAILABLE", "OK", "") for v in state.available}
        for v, message in state.errors.items():
            if v not in entries:
                entries[v] = ("END", "UNKNOWN", message)
        if version is not None:
            if version not in entries:
                raise not_found(f"Could not find version {version} of model {name}")
            entries = {version: entries[version]}
        if not entries:
            raise not_found(f"Could not find any versions of model {name}")
        return [{"version": str(v), "state": s, "status": {"error_code": code, "error_message": msg}}
                for v, (s, code, msg) in sorted(entries.items(), reverse=True)]

    def models(self) -> list[str]:
        return list(self._states)


def _release_free_memory() -> None:
    """Hand the freed heap back to the OS (glibc's malloc_trim). A swap holds two versions for a
    moment; without this, glibc keeps that peak as free-but-resident memory: RSS stepped up ~87 MB
    (12%) at a soak's hot swap and stayed there. No-op where glibc is absent."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Polls ``predicate`` until true or ``timeout`` seconds pass (used by tests and benchmarks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


__all__ = ["ModelManager", "ModelSpec", "ServingError", "parse_model_config"]
