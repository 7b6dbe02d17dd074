"""tfx-recsys: one namespace for the whole project.

Installed (the wheel), every package lives under ``recsys``: ``recsys.data``, ``recsys.models``,
``recsys.training``, ``recsys.evaluation``, ``recsys.components``, ``recsys.pipeline``,
``recsys.serving``; pyproject's ``package-dir`` maps each to its top-level folder of the checkout
(``recsys.models`` -> ``models/``). In a source checkout (pytest from the repository root,
``python -m recsys...``, the TFX Transform/Trainer modules that Beam workers import by name) the
same names resolve through this package's search path, which also covers the repository root:
a checkout and an installed wheel import the same modules under the same names.

Importing this package has no other effect. TensorFlow's Keras switch (``TF_USE_LEGACY_KERAS``:
TFRS and TFX 1.16 need Keras 2) is set where a process starts: ``recsys.cli.main`` and the notebook
(both through ``recsys.library_noise``), the TFX module files in ``components/``, the tests'
``conftest.py``, each ``python -m`` entry point.
"""

import os as _os

_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
# The source checkout this package sits in, or None when installed from the wheel.
CHECKOUT_ROOT = (_ROOT if _os.path.isfile(_os.path.join(_ROOT, "pyproject.toml"))
                 and _os.path.isdir(_os.path.join(_ROOT, "components")) else None)
if CHECKOUT_ROOT:
    __path__.append(CHECKOUT_ROOT)  # noqa: F821  (the checkout's top-level folders are subpackages)

# Order: the layers, lowest first (tests/test_layers.py checks that no import goes upward).
LAYERS = (("config", "features", "preprocessing", "fingerprint", "jsonio", "progress", "library_noise"),
          ("data", "serving"), ("models",), ("training",),
          ("evaluation",), ("components",), ("pipeline",), ("cli",))
