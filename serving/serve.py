"""``recsys serve``: the pushed models over TF Serving's REST API, and ``/v1/recommend`` beside them.

What is served: ``--model-config FILE`` (a TF Serving ``models.config``, re-read at every poll as
TF Serving does with ``--model_config_file_poll_wait_seconds``), or by default the config generated
from the newest deployment record of ``<serving_dir>`` (``serving/deployment.py``: the ranker and
retriever versions one pipeline run pushed or reused), re-generated at every poll, so the next
``recsys run``'s deployment is hot-loaded without a restart. Without any deployment record, every
model directory under ``<serving_dir>`` is served with TF Serving's default policy (latest version).

Two processes, two ports: the model server (``serving.port``, 8501 like TF Serving) here, and the
recommendation service (``serving.recommend_port``, 8502) as a child process, which calls the
model server over REST exactly as it would call a real TF Serving.
"""

from __future__ import annotations

import logging
import os

from recsys.config import ServingConfig
from recsys.serving.model_manager import ModelManager, ModelSpec, parse_model_config

log = logging.getLogger("recsys.serving")


def directory_specs(serving_dir: str) -> list[ModelSpec]:
    """Every ``<serving_dir>/<model>/`` holding numeric version directories, latest version."""
    if not os.path.isdir(serving_dir):
        return []
    return [ModelSpec(name=m, base_path=os.path.join(serving_dir, m))
            for m in sorted(os.listdir(serving_dir))
            if os.path.isdir(os.path.join(serving_dir, m)) and not m.startswith(".")
            and any(v.isdigit() for v in os.listdir(os.path.join(serving_dir, m)))]


def config_source(serving_dir: str, model_config: str = "", canary: bool = False):
    """A function returning the specs to serve now (called at start and at every poll)."""
    serving_dir = os.path.abspath(serving_dir)
    if model_config:
        def from_file() -> list[ModelSpec]:
            with open(model_config) as fh:
                return parse_model_config(fh.read(), model_config)
        return from_file

    from recsys.serving import deployment, stack

    records_dir = os.path.join(serving_dir, deployment.DIRECTORY)
    cache: dict = {}

    def from_deployment() -> list[ModelSpec]:
        # Reading the records verifies every file of the versions they name; do it only when a
        # record was added or removed (the directory's mtime), not at every poll.
        key = os.stat(records_dir).st_mtime_ns if os.path.isdir(records_dir) else None
        if key is None:
            return directory_specs(serving_dir)
        if cache.get("key") != key:
            records = deployment.deployments(serving_dir, limit=2)
            if not records:
                specs = directory_specs(serving_dir)
            else:
                previous = records[-2] if canary and len(records) > 1 else None
                specs = parse_model_config(stack.models_config(records[-1], base_path=serving_dir,
                                                               canary_over=previous),
                                           f"deployment {records[-1]['id']} of {serving_dir}")
            cache.update(key=key, specs=specs)
        return cache["specs"]
    return from_deployment


def build_manager(serving_dir: str, config: ServingConfig, canary: bool = False) -> ModelManager:
    manager = ModelManager(config_source(serving_dir, config.model_config, canary),
                           poll_seconds=config.poll_seconds)
    return manager.start()


def _server(app, host: str, port: int, max_concurrency: int):
    import uvicorn

    # limit_concurrency: past it uvicorn answers 503 at once (load shedding), so an overload
    # costs the excess requests, not every request.
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                         access_log=False, lifespan="on",
                                         limit_concurrency=max_concurrency))


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, however it dies (uvicorn re-raises the signal
    that stopped it, so the parent's ``finally`` may never run). Linux only; elsewhere a no-op."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(serving_dir: str, config: ServingConfig, *, canary: bool = False,
          recommend_args: tuple[str, ...] = ()) -> None:
    """Runs the model server here and ``/v1/recommend`` in a child process until interrupted.

    ``recommend_args``: ``--config``/``--set`` flags for the child, so it reads the same run
    config (model names, experiment, canary share, limits).
    """
    from recsys.serving.model_server import create_app

    manager = build_manager(serving_dir, config, canary)
    for name in manager.models():
        for entry in manager.status(name):
            log.info("%s version %s: %s %s", name, entry["version"], entry["state"],
                     entry["status"]["error_message"])
    app = create_app(manager, max_batch=config.max_batch, max_body_bytes=config.max_body_bytes)
    url = f"http://{config.host}:{config.port}"
    print(f"model server (TF Serving REST API): {url}/v1/models/<name>  models: {manager.models()}",
          flush=True)
    child = None
    if config.recommend_port:
        # Its own process, as in production (docker-compose.yml runs it beside TF Serving): its
        # Python (JSON, validation, two REST calls) and the model server's then do not take
        # turns on one GIL, which showed in /v1/recommend's tail latency.
        import subprocess
        import sys

        child = subprocess.Popen(
            [sys.executable, "-m", "recsys.serving.recommend", "--model-server-url",
             config.model_server_url or url, "--host", config.host, "--port",
             str(config.recommend_port), *recommend_args], preexec_fn=_die_with_parent)
        print(f"recommendation service: http://{config.host}:{config.recommend_port}/v1/recommend "
              f"(OpenAPI: /openapi.json)", flush=True)
    try:
        # Server.run, not asyncio.run(Server.serve()): run picks the event loop (uvloop), which
        # costs less CPU per request than asyncio's default loop.
        _server(app, config.host, config.port, config.max_concurrency).run()
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
        manager.stop()


def add_arguments(parser) -> None:
    """The flags of ``recsys serve`` (also ``python -m recsys.serving.serve``); defaults from the run config."""
    parser.add_argument("--serving-dir", default="", help="the pipeline's serving directory "
                        "(default: the run config's, runs/serving)")
    parser.add_argument("--model-config", default="", help="a TF Serving models.config to serve "
                        "instead of the newest deployment record")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1: this "
                        "machine only)")
    parser.add_argument("--port", type=int, default=None, help="model server port (default 8501)")
    parser.add_argument("--recommend-port", type=int, default=None,
                        help="/v1/recommend port (default 8502; 0: do not start it)")
    parser.add_argument("--canary", action="store_true", help="serve the newest deployment as "
                        "label 'canary' beside the previous one as 'stable' (A/B by serving.canary_share)")


def run_from_args(args, config) -> int:
    """``config``: the loaded run config; the flags override its [serving] section."""
    serving = config.serving
    for flag, field in [("host", "host"), ("port", "port"), ("recommend_port", "recommend_port"),
                        ("model_config", "model_config")]:
        value = getattr(args, flag)
        if value not in (None, ""):
            setattr(serving, field, value)
    serving_dir = args.serving_dir or config.serving_dir
    if not serving.model_config and not os.path.isdir(serving_dir):
        raise FileNotFoundError(f"serving directory {serving_dir} does not exist: run `recsys run` "
                                f"first, or pass --serving-dir / --model-config")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    recommend_args = (["--config", args.config] if getattr(args, "config", None) else []) + \
        [f for item in getattr(args, "set", []) for f in ("--set", item)]
    serve(serving_dir, serving, canary=args.canary, recommend_args=tuple(recommend_args))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    from recsys.config import DEFAULT_CONFIG_PATH, load_config

    parser = argparse.ArgumentParser(prog="python -m recsys.serving.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, load_config(args.config, args.set))


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2, before TensorFlow is imported
    raise SystemExit(main())
