"""Pins the served ranker and retriever to one pipeline run: a matching pair of versions.

Both pushers version by the pipeline run's start time (``components/pusher.py``), so a run whose
two models were both blessed leaves ``<serving>/ranker/V`` and ``<serving>/retriever/V``. When one
of them fails its gate, only the other gets V; serving the newest of each would then pair models
trained on different data and Transform vocabularies. This writes a TF Serving model config that
pins both to the newest version present under both.

  .venv/bin/python -m serving.stack runs/serving > serving/models.pinned.config
"""

from __future__ import annotations

import argparse
import os
import sys


def versions(model_dir: str) -> set[int]:
    """Complete versions: integer directories holding saved_model.pb (written last by the Pusher)."""
    if not os.path.isdir(model_dir):
        return set()
    return {int(v) for v in os.listdir(model_dir)
            if v.isdigit() and os.path.exists(os.path.join(model_dir, v, "saved_model.pb"))}


def matching_version(serving_dir: str, models: tuple[str, ...]) -> int:
    common = set.intersection(*(versions(os.path.join(serving_dir, m)) for m in models))
    if not common:
        found = {m: sorted(versions(os.path.join(serving_dir, m))) for m in models}
        raise LookupError(f"no version is pushed for all of {list(models)} under {serving_dir}: {found}")
    return max(common)


def model_config(version: int, models: tuple[str, ...], base_path: str = "/models") -> str:
    entries = "".join(
        f'  config {{\n    name: "{m}"\n    base_path: "{base_path}/{m}"\n    model_platform: "tensorflow"\n'
        f'    model_version_policy {{ specific {{ versions: {version} }} }}\n  }}\n' for m in models)
    return f"model_config_list {{\n{entries}}}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("serving_dir")
    ap.add_argument("--models", default="ranker,retriever")
    ap.add_argument("--base-path", default="/models", help="where TF Serving sees serving_dir")
    args = ap.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    try:
        version = matching_version(args.serving_dir, models)
    except LookupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(model_config(version, models, args.base_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
