"""A TF Serving models.config from the deployment record: the versions one run deployed together.

``serving/deployment.py`` records, for every pipeline run that pushed its models, which ranker and
which retriever version belong together (a ranker-only change pairs the new ranker with the
retriever version it reused). This turns the newest record into a ModelServerConfig text proto
that pins each model to its version (``model_version_policy { specific }``) and labels it
``stable``. With ``--canary`` the newest record is the canary over the one before it: each model
serves both versions, the newer labelled ``canary``, the older ``stable`` (a model whose version
did not change, e.g. the retriever after a ranker-only change, carries both labels on its one
version).

TF Serving moves an in-use label only to a version that is already loaded. Rolling out a run is
therefore two steps: ``--canary`` (loads the new versions beside the old ones), then, once
they are loaded (and the canary looks good), the plain config (``stable`` moves to the new
versions, the old ones unload). Labels on a version not loaded yet at start-up need
``--allow_version_labels_for_unavailable_models`` (``serving/docker-compose.yml`` sets it).

  .venv/bin/python -m recsys.serving.stack runs/serving --write                  # -> runs/serving/models.config
  .venv/bin/python -m recsys.serving.stack runs/serving --base-path "$PWD/runs/serving"   # local TF Serving

``--base-path`` is where TF Serving sees the serving root: ``/models`` in docker-compose.yml.
"""

from __future__ import annotations

import argparse
import os
import sys

from recsys.serving.deployment import deployments

CONFIG_FILE = "models.config"  # under the serving root; docker-compose.yml mounts it from there


def models_config(deployment: dict, base_path: str = "/models", canary: dict | None = None, *,
                  canary_over: dict | None = None) -> str:
    """ModelServerConfig text proto serving each model of ``deployment`` at its version, labelled
    ``stable``.

    ``canary``: another deployment of the same models. Both versions of each model are served,
    the newer labelled ``canary`` and the older ``stable`` (one version carries both labels when
    the two deployments share it), so the argument order does not matter; ``canary_over`` is the
    same argument named from the newer deployment's side. ``base_path``: the serving root as TF
    Serving sees it.
    """
    if canary is not None and canary_over is not None:
        raise TypeError("pass canary or canary_over, not both")
    other = canary if canary is not None else canary_over
    models = deployment["models"]
    if other is not None and set(other["models"]) != set(models):
        raise ValueError(f"a canary must deploy the same models: {sorted(other['models'])} vs "
                         f"{sorted(models)}")
    base_path = base_path.rstrip("/") or "/"
    entries = []
    for name in sorted(models):
        versions = {int(models[name]["version"])}
        if other is not None:
            versions.add(int(other["models"][name]["version"]))
        labels = {"stable": min(versions)}
        if other is not None:
            labels["canary"] = max(versions)
        policy = "".join(f"versions: {v} " for v in sorted(versions))
        label_lines = "".join(f'    version_labels {{ key: "{k}" value: {v} }}\n'
                              for k, v in labels.items())
        entries.append(
            f'  config {{\n    name: "{name}"\n    base_path: "{base_path}/{name}"\n'
            f'    model_platform: "tensorflow"\n'
            f'    model_version_policy {{ specific {{ {policy}}} }}\n{label_lines}  }}\n')
    return "model_config_list {\n" + "".join(entries) + "}\n"


def config_for(serving_root: str, base_path: str = "/models", canary: bool = False) -> str:
    """The config of the newest deployment under ``serving_root`` (canary over the previous one
    with ``canary``); ``LookupError`` when there are not enough deployment records."""
    found = deployments(serving_root, limit=2 if canary else 1)
    if len(found) < (2 if canary else 1):
        raise LookupError(f"{serving_root}: {len(found)} servable deployment record(s) under "
                          f"deployments/, {'2 needed for --canary' if canary else 'none'}; "
                          f"run the pipeline (`recsys run`) first")
    return models_config(found[-1], base_path, canary=found[0] if canary else None)


def write_config(serving_root: str, text: str) -> str:
    """Writes ``<serving_root>/models.config`` atomically (TF Serving polls the file: it must
    never see a half-written one); returns its path."""
    path = os.path.join(serving_root, CONFIG_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recsys.serving.stack", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("serving_root", help="the pipeline's serving directory (runs/serving)")
    ap.add_argument("--base-path", default="/models", help="where TF Serving sees serving_root")
    ap.add_argument("--canary", action="store_true",
                    help="serve the latest deployment as canary beside the previous one (stable)")
    ap.add_argument("--write", action="store_true",
                    help=f"write <serving_root>/{CONFIG_FILE} atomically instead of printing")
    args = ap.parse_args(argv)
    try:
        text = config_for(args.serving_root, args.base_path, args.canary)
    except (LookupError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.write:
        print(write_config(args.serving_root, text))
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
