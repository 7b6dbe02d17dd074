"""One worker of ``test_distribution_e2e.py``'s two-worker run (a process of its own: TF_CONFIG is
read once per process). Trains the tiny ranker with ``MultiWorkerMirroredStrategy`` through
``train_and_export`` and dumps, at the moment of export, the model's weights and its logits on the
eval examples: what this worker computed, for the test to compare with the chief's export."""

import argparse
import faulthandler
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from recsys.config import DistributeConfig, TrainConfig  # noqa: E402
from recsys.models import export  # noqa: E402
from recsys.training import ranker  # noqa: E402
from tests.tiny import CONFIG  # noqa: E402

TRAIN = TrainConfig(epochs=2, batch_size=16, embedding_dim=4, deep_layers=(8,), learning_rate=0.01)


def main() -> None:
    faulthandler.dump_traceback_later(int(os.environ.get("MW_DUMP_AFTER", 240)), exit=True)  # a hung collective names where it hung
    p = argparse.ArgumentParser()
    for flag in ("--train", "--eval", "--transform", "--export", "--dump"):
        p.add_argument(flag, required=True)
    a = p.parse_args()
    save = export.save

    def dump_then_save(model, tft_out, features, label_mode, path, **kwargs):
        eval_ds = ranker.make_dataset(a.eval, tft_out, features, TRAIN, training=False)
        logits = np.concatenate([model(x, training=False).numpy() for x, _ in eval_ds])
        np.savez(a.dump, logits=logits, export_path=path,
                 **{f"w{i}": v.numpy() for i, v in enumerate(model.weights)})
        save(model, tft_out, features, label_mode, path, **kwargs)

    export.save = dump_then_save  # the ranker module calls export.save by attribute
    result = ranker.train_and_export(
        train_files=[a.train], eval_files=[a.eval], transform_output=a.transform,
        serving_model_dir=a.export, features=CONFIG, train=TRAIN,
        distribute=DistributeConfig(strategy="multi_worker"))
    assert result["replicas"] == 2, result


if __name__ == "__main__":
    main()
