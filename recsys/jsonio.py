"""JSON that every parser reads: Python's ``json`` writes a non-finite float as a bare ``NaN`` or
``Infinity``, which is not JSON (``jq``, browsers and most other languages reject the document).

A metric that is not defined (the AUC of an eval split with one class, a mean over no users) is
written as ``null``: "no value", which is what it is.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every NaN / infinite float (numpy scalars included) replaced by None."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # a numpy scalar (without importing numpy)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` of ``finite(value)``; never writes NaN or Infinity."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
