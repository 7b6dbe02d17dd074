"""A/B buckets of the /v1/recommend service: which users are routed to the ``canary`` models.

A user's bucket is a pure function of ``(experiment, user_id, canary_share)``:

    point  = first 8 bytes of sha256(experiment + ":" + user_id), big-endian, / 2**64   in [0, 1)
    bucket = "canary" if point < canary_share else "stable"

so it is the same on every replica and after every restart (Python's ``hash()`` is salted per
process, so it is not used), raising ``canary_share`` only moves users from stable to canary
(never back), and a new ``experiment`` name draws an independent split.

Which model version a bucket gets is decided on the model server by TF Serving version labels
(``version_labels { key: "canary" value: ... }`` in its model config); ``LABELS`` is the order in
which a bucket looks for them (``serving/recommend.py`` falls back to the newest version when a
model has none of them).
"""

from __future__ import annotations

import hashlib

STABLE = "stable"
CANARY = "canary"

# Labels each bucket tries, in order: canary users fall back to the stable version when a model
# has no canary (a ranker-only canary leaves the retriever on stable for everyone).
LABELS = {CANARY: (CANARY, STABLE), STABLE: (STABLE,)}


def bucket_point(experiment: str, user_id: str) -> float:
    """The user's uniform point in [0, 1) for this experiment."""
    key = f"{experiment}:{user_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0 ** 64


def assign(experiment: str, user_id: str, canary_share: float) -> str:
    """``"canary"`` for a ``canary_share`` fraction of users (0: nobody, 1: everybody), else ``"stable"``."""
    if not 0.0 <= canary_share <= 1.0:
        raise ValueError(f"canary_share: {canary_share!r}; expected a share in [0, 1]")
    return CANARY if bucket_point(experiment, user_id) < canary_share else STABLE
