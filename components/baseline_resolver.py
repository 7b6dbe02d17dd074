"""The Evaluator's baseline: the latest blessed model that is *comparable* with this run's candidate
(``recsys.training.comparability``: the record each exported ranker carries, and the rule)."""

from __future__ import annotations

import json

from absl import logging
from tfx import types
from tfx.components.evaluator import constants as eval_constants
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)

from recsys.training.comparability import incompatibility, read_record

_BLESSED = eval_constants.ARTIFACT_PROPERTY_BLESSED_KEY
_CURRENT_MODEL_ID = eval_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY


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
