"""The Evaluator's baseline: the latest blessed model that is *comparable* with this run's candidate.

TFX's ``LatestBlessedModelStrategy`` returns the latest blessed model, whatever it was trained on.
TFMA then runs that baseline's ``serving_default`` on this run's examples and scores it with this
run's label and prediction keys. After a change of dataset, label mode or schema that fails (a raw
feature the baseline parses is missing, or it outputs ``probability`` where a regressor's
``rating`` is asked for) and the whole run crashes; even where it ran, a click model's AUC is no
yardstick for a rating model. So each exported model carries a *comparability record*, written
by the Trainer next to the SavedModel (``assets.extra/comparability.json``, pushed with it):

* ``dataset``, ``label_mode`` and the label key: what the predictions mean;
* ``raw_inputs``: the raw tf.Example spec its serving signature parses (name -> parse spec).

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

from absl import logging
from tfx import types
from tfx.components.evaluator import constants as eval_constants
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.dsl.io import fileio
from tfx.utils import path_utils

from recsys.features import FeatureConfig

RECORD_PATH = os.path.join("assets.extra", "comparability.json")  # inside the serving model dir
_BLESSED = eval_constants.ARTIFACT_PROPERTY_BLESSED_KEY
_CURRENT_MODEL_ID = eval_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY


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
                         raw_inputs: Mapping[str, Any]) -> dict:
    """What a model's predictions mean and what it parses: the record a baseline is judged by.
    ``raw_inputs`` is a ``tf.io`` feature spec (the serving signature's, or this run's schema's).
    The Trainer and the pipeline both build it here, so the two sides cannot drift apart."""
    label_key = features.label if label_mode == "binary" else features.rating
    return {"dataset": features.dataset, "label_mode": label_mode, "label_key": label_key,
            "raw_inputs": describe_spec(raw_inputs)}


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


def resolver_config(current: dict) -> dict:
    """The Resolver's ``config`` (the strategy's constructor kwargs) for this run's record.

    The record travels as a JSON string: TFX stores a nested dict in the pipeline IR but cannot
    parse it back (its string values are JSON-decoded again on the way out).
    """
    return {"current": json.dumps(current, sort_keys=True)}


class ComparableBlessedModelStrategy(LatestBlessedModelStrategy):
    """``LatestBlessedModelStrategy`` restricted to models comparable with this run (module doc).

    Constructed by the Resolver with ``config=resolver_config(comparability_record(...))``.
    """

    def __init__(self, current: str):
        current = json.loads(current)
        missing = {"dataset", "label_mode", "label_key", "raw_inputs"} - set(current)
        if missing:
            raise ValueError(f"ComparableBlessedModelStrategy: current record lacks {sorted(missing)}; "
                             "expected comparability_record(...)")
        self._current = current

    def _resolve(self, input_dict: dict[str, list[types.Artifact]], model_channel_key: str,
                 model_blessing_channel_key: str):
        blessings = {b.get_int_custom_property(_CURRENT_MODEL_ID): b
                     for b in input_dict[model_blessing_channel_key]
                     if b.get_int_custom_property(_BLESSED) == 1}
        blessed = sorted((m for m in input_dict[model_channel_key] if m.id in blessings),
                         key=lambda m: m.id, reverse=True)
        for model in blessed:  # newest first
            reason = incompatibility(read_record(model.uri), self._current)
            if reason is None:
                logging.info("Baseline: blessed model %d (%s), the latest comparable one.",
                             model.id, model.uri)
                return {model_channel_key: [model],
                        model_blessing_channel_key: [blessings[model.id]]}
            logging.warning("Baseline: skipping blessed model %d (%s): %s.", model.id, model.uri, reason)
        if blessed:
            logging.warning("Baseline: none of the %d blessed models is comparable with this run; "
                            "the Evaluator runs without a baseline (absolute thresholds only).",
                            len(blessed))
        return {model_channel_key: [], model_blessing_channel_key: []}
