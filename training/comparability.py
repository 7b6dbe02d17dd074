"""Comparability records: what an exported ranker predicts and parses, so the Evaluator's baseline
is only ever a model *comparable* with this run's candidate (``components/baseline_resolver.py``).

TFX's ``LatestBlessedModelStrategy`` returns the latest blessed model, whatever it was trained on.
TFMA then runs that baseline's ``serving_default`` on this run's examples and scores it with this
run's label and prediction keys. After a change of dataset, label mode or schema that fails (a raw
feature the baseline parses is missing, or it outputs ``probability`` where a regressor's
``rating`` is asked for) and the whole run crashes; even where it ran, a click model's AUC is no
yardstick for a rating model. So each exported model carries a *comparability record*, written
by the Trainer next to the SavedModel (``assets.extra/comparability.json``, pushed with it):

* ``dataset``, ``label_mode`` and the label key: what the predictions mean;
* ``raw_inputs``: the raw tf.Example spec its serving signature parses (name -> parse spec);
* ``outputs``: its serving outputs (a multi-task ranker's gate also reads ``ctcvr``, which a
  single-task baseline lacks; a record without the field is a single-task model's);
* ``signatures``: the signatures besides ``serving_default`` that the Evaluator calls (TFMA's
  slice signature, ``export.SLICE_SIGNATURE``: a model exported before it existed has none, and
  TFMA fails calling a missing one; a record without the field has none).

A blessed model is a comparable baseline when dataset, label mode and label key are equal and every
raw input it parses is in this run's example schema with the same parse spec. The feature config
itself may differ: a run that drops or adds a feature is still gated against the model it would
replace, as any other model change is. Models without a record (exported before records existed)
are skipped. Every skipped model and the choice are logged; with none comparable the Evaluator runs
without a baseline, as on a first run (absolute thresholds only).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from tfx.dsl.io import fileio
from tfx.utils import path_utils

from recsys.features import FeatureConfig
from recsys.models.export import SLICE_SIGNATURE, output_keys

RECORD_PATH = os.path.join("assets.extra", "comparability.json")  # inside the serving model dir


def describe_spec(spec: Mapping[str, Any]) -> dict[str, str]:
    """``{name: parse spec as text}`` for a ``tf.io`` feature spec, comparable across runs (the
    spec objects themselves are not JSON)."""
    out = {}
    for name, s in spec.items():
        kind = type(s).__name__
        if kind == "FixedLenFeature":
            out[name] = f"{kind}(shape={list(s.shape)}, dtype={s.dtype.name}, default={s.default_value!r})"
        elif kind == "VarLenFeature":
            out[name] = f"{kind}(dtype={s.dtype.name})"
        else:  # Sparse/Ragged features: not produced by our schemas; compared by their repr
            out[name] = repr(s)
    return out


def comparability_record(features: FeatureConfig, label_mode: str,
                         raw_inputs: Mapping[str, Any], multitask: str = "off") -> dict:
    """What a model's predictions mean and what it parses: the record a baseline is judged by.
    ``raw_inputs`` is a ``tf.io`` feature spec (the serving signature's, or this run's schema's).
    The Trainer and the pipeline both build it here, so the two sides cannot drift apart."""
    return {"dataset": features.dataset, "label_mode": label_mode,
            "label_key": features.label_key(label_mode),
            "raw_inputs": describe_spec(raw_inputs),
            "outputs": list(output_keys(label_mode, multitask)),
            "signatures": [SLICE_SIGNATURE]}


def write_record(serving_model_dir: str, record: dict) -> None:
    path = os.path.join(serving_model_dir, RECORD_PATH)
    fileio.makedirs(os.path.dirname(path))
    with fileio.open(path, "w") as fh:
        fh.write(json.dumps(record, indent=2, sort_keys=True))


def read_record(model_uri: str) -> dict | None:
    """The record exported with the Model artifact at ``model_uri``; None if it has none."""
    path = os.path.join(path_utils.serving_model_dir(model_uri), RECORD_PATH)
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as fh:
        return json.loads(fh.read())


def incompatibility(baseline: dict | None, current: dict) -> str | None:
    """Why a model with record ``baseline`` cannot be this run's baseline; None if it can.

    ``current`` is this run's record, its ``raw_inputs`` describing every feature of the schema
    the examples were validated against (a superset of what the candidate parses).
    """
    if baseline is None:
        return (f"it has no {RECORD_PATH} (exported before comparability records), so what it "
                "parses and predicts is unknown")
    for field in ("dataset", "label_mode", "label_key"):
        if baseline.get(field) != current[field]:
            return f"{field} {baseline.get(field)!r} differs from this run's {current[field]!r}"
    outputs = baseline.get("outputs", list(output_keys(baseline.get("label_mode", "binary"))))
    lacking = [o for o in current.get("outputs", ()) if o not in outputs]
    if lacking:
        return f"it has no outputs {lacking} (its outputs: {outputs}) for this run's gate"
    signatures = [s for s in current.get("signatures", ()) if s not in baseline.get("signatures", ())]
    if signatures:
        return (f"it has no signatures {signatures} for this run's Evaluator (exported before "
                "them)")
    have = current["raw_inputs"]
    need = baseline.get("raw_inputs", {})
    missing = sorted(n for n in need if n not in have)
    if missing:
        return f"it parses raw features {missing} that this run's examples do not have"
    changed = sorted(n for n in need if need[n] != have[n])
    if changed:
        return "it parses raw features differently from this run's schema: " + "; ".join(
            f"{n}: {need[n]} vs {have[n]}" for n in changed)
    return None
