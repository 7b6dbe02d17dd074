"""What a process that imports TensorFlow/TFX sets before it does, so that the user sees only the
project's own output: the ``recsys`` command line (``cli.main``) and ``notebooks/evaluation.ipynb``.

TensorFlow reads both variables when it is first imported, so this must run before that.
"""

import logging
import os
import warnings


def quiet(keep_library_logs: bool = True) -> None:
    """``keep_library_logs=False`` also drops TensorFlow's and absl's Python log records below ERROR
    (deprecation notices while TFMA reads a result): where there is no log file to send them to."""
    # Keras 2 (tf-keras): TFRS and TFX 1.16 need it; Beam's worker processes inherit it.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # TensorFlow's C++ INFO/WARNING lines (oneDNN, CUDA stubs, CPU features).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # google-cloud client libraries (pulled in by TFX) warn about Python 3.10 on every import.
    warnings.filterwarnings("ignore", category=FutureWarning)
    if not keep_library_logs:
        for name in ("tensorflow", "absl"):
            # A filter, not a level: TensorFlow resets its logger's level to INFO when imported in
            # an interactive session (IPython).
            logging.getLogger(name).addFilter(lambda record: record.levelno >= logging.ERROR)
