"""A/B bucketing (serving/ab.py): deterministic, honours the share, reshuffled by the experiment."""

import math
import subprocess
import sys

import pytest

from recsys.serving import ab

N = 100_000
USERS = [f"u{n:06d}" for n in range(N)]


def test_golden_points():
    # sha256(b"ranker-ab:u000001") starts e45eb2d81f9db138; / 16**16 = 0.89206...
    assert ab.bucket_point("ranker-ab", "u000001") == int("e45eb2d81f9db138", 16) / 2 ** 64
    assert ab.bucket_point("ranker-ab", "u000001") == pytest.approx(0.8920699861188186, abs=0)
    assert ab.bucket_point("ranker-ab", "u000002") == pytest.approx(0.2477859736726299, abs=0)
    assert ab.assign("ranker-ab", "u000001", 0.5) == "stable"
    assert ab.assign("ranker-ab", "u000002", 0.5) == "canary"


def test_same_bucket_in_another_process():
    # Python's hash() of a str changes with PYTHONHASHSEED; the bucket must not.
    code = "from serving import ab; print(ab.bucket_point('ranker-ab', 'u000002'))"
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."}).stdout
        assert float(out) == ab.bucket_point("ranker-ab", "u000002")


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5, 0.9])
def test_share_is_honoured(share):
    canary = sum(ab.assign("ranker-ab", u, share) == "canary" for u in USERS)
    sigma = math.sqrt(share * (1 - share) / N)
    assert abs(canary / N - share) < 5 * sigma


def test_share_edges_and_monotone():
    assert all(ab.assign("x", u, 0.0) == "stable" for u in USERS[:2000])
    assert all(ab.assign("x", u, 1.0) == "canary" for u in USERS[:2000])
    # Raising the share only moves users from stable to canary.
    low = {u for u in USERS[:20000] if ab.assign("x", u, 0.1) == "canary"}
    high = {u for u in USERS[:20000] if ab.assign("x", u, 0.3) == "canary"}
    assert low < high


def test_new_experiment_reshuffles():
    a = [ab.assign("exp-a", u, 0.5) for u in USERS]
    b = [ab.assign("exp-b", u, 0.5) for u in USERS]
    agree = sum(x == y for x, y in zip(a, b)) / N
    # Independent splits agree for share^2 + (1 - share)^2 = half of the users.
    assert abs(agree - 0.5) < 5 * math.sqrt(0.25 / N)
    assert a == [ab.assign("exp-a", u, 0.5) for u in USERS]  # and the same name never does


def test_unicode_ids_and_bad_share():
    assert 0 <= ab.bucket_point("e", "\ud800 lone surrogate") < 1
    assert 0 <= ab.bucket_point("e", "ユーザー") < 1
    for share in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="canary_share"):
            ab.assign("e", "u", share)
