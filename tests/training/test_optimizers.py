"""EMA of the weights (``train.ema_momentum``): what training leaves in the model is the average."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from recsys.models.factory import build_ranker
from recsys.training.optimizers import build_optimizer, finalize_weight_averages, weight_average
from recsys.training.ranker import make_dataset
from recsys.config import TrainConfig
from tests.models.test_models import tiny  # noqa: F401  (fixture)
from tests.tiny import CONFIG, write_gz


class Record(tf.keras.callbacks.Callback):
    """The watched variable before training and after every step (the raw, unaveraged weights)."""

    def __init__(self, variable):
        super().__init__()
        self.variable, self.values = variable, []

    def on_train_begin(self, logs=None):
        self.values.append(self.variable.numpy().copy())

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(self.variable.numpy().copy())


@pytest.mark.parametrize("model", ["dcn", "wide_deep"])  # wide_deep: Adam inside TFRS' CompositeOptimizer
def test_trained_weights_are_the_exponential_moving_average(tiny, tmp_path, model):
    data, out = tiny
    files = write_gz(data * 4, str(tmp_path / "t.gz"))
    train = TrainConfig(model=model, epochs=3, batch_size=8, embedding_dim=4, deep_layers=(8,),
                        learning_rate=0.05, ema_momentum=0.5)
    tf.keras.utils.set_random_seed(0)
    ds = make_dataset([files], tft.TFTransformOutput(out._transform_output_dir), CONFIG, train,
                      training=True)
    ranker = build_ranker(train, CONFIG, CONFIG.vocabulary_sizes(out))
    ranker.compile(optimizer=build_optimizer(ranker, train, steps_per_epoch=3))
    ranker(next(iter(ds))[0])
    watched = ranker.head.kernel  # a deep (Adam) weight
    record = Record(watched)
    ranker.fit(ds, epochs=train.epochs, callbacks=[record], verbose=0)
    finalize_weight_averages(ranker.optimizer)
    # avg_0 = w_0, avg_t = m avg_{t-1} + (1 - m) w_t over the 3 x 3 steps, by hand:
    average = record.values[0]
    for w in record.values[1:]:
        average = 0.5 * average + 0.5 * w
    assert len(record.values) == 10 and not np.allclose(record.values[-1], average)
    np.testing.assert_allclose(watched.numpy(), average, rtol=1e-5, atol=1e-7)


def test_a_run_too_short_for_its_momentum_is_refused():
    """Keras' average starts at the initial weights: 0.999 over 8 x 79 steps would keep 53% of
    them in the exported model."""
    with pytest.raises(ValueError, match=r"ema_momentum=0.999 averages over ~1000 steps, but the run "
                                         r"has only 632 \(8 epochs x 79\): the initial weights would "
                                         r"keep 53.1% of the exported average"):
        weight_average(TrainConfig(ema_momentum=0.999, epochs=8), steps_per_epoch=79)
    assert weight_average(TrainConfig(ema_momentum=0.99, epochs=8), steps_per_epoch=79) == \
        dict(use_ema=True, ema_momentum=0.99)
    assert weight_average(TrainConfig()) == {}
    with pytest.raises(ValueError, match=r"ema_momentum=1.0; expected 0 \(off\) or a value in \(0, 1\)"):
        weight_average(TrainConfig(ema_momentum=1.0))
