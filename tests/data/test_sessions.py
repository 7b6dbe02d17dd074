"""Sessions of the synthetic log (``SyntheticConfig.sessions``, ``data/sessions.py``): the gap
rule read back from the records, session histories strictly earlier and within the session,
determinism, the intent's effect, and that the sessionless log carries no session fields."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from recsys.data.sessions import SESSION_GAP
from recsys.data.synthetic import SyntheticConfig, generate, temporal_cutoff

SMALL = dict(num_users=300, num_items=300, num_events=40_000, days=7, history_length=6)


@pytest.fixture(scope="module")
def records():
    return list(generate(SyntheticConfig(sessions=True, **SMALL)))


def test_a_new_session_starts_exactly_after_a_gap_of_more_than_30_minutes(records):
    last: dict[str, tuple[int, str]] = {}  # user -> (time, session) of their previous record
    owner: dict[str, str] = {}
    continued = started = 0
    for r in records:
        sid = r["session_id"]
        assert owner.setdefault(sid, r["user_id"]) == r["user_id"], sid  # one user per session
        if r["user_id"] in last:
            t, prev = last[r["user_id"]]
            if r["timestamp"] - t > SESSION_GAP:
                assert sid != prev, r["example_id"]
                started += 1
            else:
                assert sid == prev, r["example_id"]
                continued += r["timestamp"] != t  # a later request in the same session
        last[r["user_id"]] = (r["timestamp"], sid)
    assert continued > 1000 and started > 100  # both branches of the rule occur, often
    requests = {(r["session_id"], r["timestamp"]) for r in records}
    assert len(requests) / len(owner) > 2  # sessions hold several requests on average


def test_session_history_is_the_sessions_strictly_earlier_clicks(records):
    clicks: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)  # per session
    nonempty = 0
    for r in records:
        past = clicks[r["session_id"]]
        expected = [item for t, item in reversed(past) if t < r["timestamp"]][:SMALL["history_length"]]
        assert r["session_history"] == expected, r["example_id"]
        # ... so it is the newest part of the user's history, from this session only
        assert r["session_history"] == r["history"][:len(r["session_history"])], r["example_id"]
        nonempty += bool(expected)
        if r["label"]:
            past.append((r["timestamp"], r["item_id"]))
    assert nonempty > len(records) / 3


def test_sessions_are_seeded_and_the_sessionless_log_has_no_session_fields():
    cfg = SyntheticConfig(sessions=True, **{**SMALL, "num_events": 5000})
    first = list(generate(cfg))
    assert first == list(generate(cfg))
    other = list(generate(SyntheticConfig(sessions=True, **{**SMALL, "num_events": 5000, "seed": 8})))
    assert [r["session_id"] for r in first] != [r["session_id"] for r in other]
    plain = next(generate(SyntheticConfig(**SMALL)))
    assert "session_id" not in plain and "session_history" not in plain


def test_the_intent_concentrates_a_sessions_clicks_and_the_cutoff_stays_exact(records):
    def modal_share(log):
        category = {r["item_id"]: r["item_category"] for r in log}
        hits = [r["item_category"] == collections.Counter(category[i] for i in r["session_history"])
                .most_common(1)[0][0] for r in log if r["label"] and r["session_history"]]
        return np.mean(hits)

    no_intent = list(generate(SyntheticConfig(sessions=True, session_intent=0.0, **SMALL)))
    # measured 0.66 vs 0.46: the same sessions, only the click boost differs
    assert modal_share(records) > modal_share(no_intent) + 0.1
    assert abs(np.mean([r["label"] for r in records]) - 0.15) < 0.01  # calibrated with intents
    ts = np.array([r["timestamp"] for r in records])
    cfg = SyntheticConfig(sessions=True, **SMALL)
    assert abs((ts < temporal_cutoff(cfg, 0.8)).mean() - 0.8) < 0.01


@pytest.mark.parametrize("value", [1, "yes"])
def test_sessions_flag_must_be_a_bool(value):
    with pytest.raises(ValueError, match=rf"SyntheticConfig\.sessions={value!r}"):
        SyntheticConfig(sessions=value)


@pytest.mark.parametrize("value", [-0.5, float("nan"), True])
def test_session_intent_must_be_a_finite_non_negative_float(value):
    with pytest.raises(ValueError, match=r"SyntheticConfig\.session_intent="):
        SyntheticConfig(session_intent=value)


def test_a_session_never_spans_a_gap_inside_itself(records):
    by_session = collections.defaultdict(list)
    for r in itertools.islice(records, None):
        by_session[r["session_id"]].append(r["timestamp"])
    gaps = [b - a for ts in by_session.values() for a, b in zip(ts, ts[1:])]
    assert max(gaps) <= SESSION_GAP


def test_open_sessions_match_the_insertion_ordered_dict_they_replace():
    """The clock's open sessions (expiry from the front, k-th pick, move to the end) give the
    same users as the dict scan they replaced, through several compactions of the slot array."""
    from recsys.data.sessions import _OpenSessions

    rng = np.random.default_rng(0)
    fast, ref = _OpenSessions(capacity=4), {}  # user -> time of their last request
    t = 0
    for _ in range(3000):
        t += int(rng.integers(0, 40))
        for u in [u for u, last in ref.items() if t - last > 100]:
            del ref[u]
        fast.expire(t, 100)
        assert len(fast) == len(ref)
        if ref:
            k = int(rng.integers(0, len(ref)))
            assert fast.kth(k) == list(ref)[k]
        u = int(rng.integers(0, 30))
        ref.pop(u, None)
        fast.remove(u)
        if rng.random() < 0.75:
            ref[u] = t
            fast.append(u, t)
    assert fast.size < 64  # compacted: memory follows the open sessions, not the requests


def test_a_category_is_drawn_by_inverse_cdf():
    from recsys.data.synthetic import World

    # unnormalised CDF 1, 3, 4 (P = 1/4, 2/4, 1/4): u * 4 = 0.4 -> 0, 1.0 -> 1 (<= is taken),
    # 2.8 -> 1, 3.96 -> 2; u * total reaching the total (rounding) still gives 2, never 3
    cdf = np.array([1.0, 3.0, 4.0])
    assert World.draw_category(cdf, np.array([0.1, 0.25, 0.7, 0.99, 1.0])).tolist() == [0, 1, 1, 2, 2]
    rows = np.array([[1.0, 1.0, 2.0], [0.0, 1.0, 1.0]])  # per-row CDFs broadcast over a slate
    assert World.draw_category(rows[:, None, :], np.array([[0.4, 0.6], [0.0, 0.9]])).tolist() == [[0, 2], [1, 1]]


def _chain_rates(drift: float):
    """(P(a click's category follows its session's newest click's category on the complement
    chain), the same for the oldest click in the session history) over clicks with >= 3 earlier
    clicks in their session."""
    from recsys.data.synthetic import World

    cfg = SyntheticConfig(sessions=True, session_intent=3.0, session_drift=drift, **SMALL)
    world = World.build(cfg)
    log = list(generate(cfg, world))
    category = {r["item_id"]: int(r["item_category"][1:]) for r in log}
    hits = np.array([(int(r["item_category"][1:]) == world.category_next[category[r["session_history"][0]]],
                      int(r["item_category"][1:]) == world.category_next[category[r["session_history"][-1]]])
                     for r in log if r["label"] and len(r["session_history"]) >= 3])
    return hits.mean(0), np.mean([r["label"] for r in log])


def test_session_drift_gives_a_session_an_order():
    """With drift the next click follows the newest click along the complement chain far above
    chance and more often than it follows the oldest one; without, no more than chance and the
    newest click says no more than the oldest (a set, no order)."""
    (newest, oldest), ctr = _chain_rates(0.5)
    (newest_off, oldest_off), _ = _chain_rates(0.0)
    # measured 0.141 / 0.110 with drift (2,799 clicks), 0.008 / 0.007 without (one intent per
    # session keeps its clicks in one category); chance, one category in 20, is about 0.05
    assert newest > 0.1 and newest > oldest + 0.015
    assert newest_off < 0.05 and abs(newest_off - oldest_off) < 0.015
    assert abs(ctr - 0.15) < 0.01  # the calibration walks its intents as sessions do


def test_the_complement_chain_is_one_cycle_through_every_category():
    from recsys.data.synthetic import World

    cfg = SyntheticConfig(**SMALL)
    nxt, c, seen = World.build(cfg).category_next, 0, []
    for _ in range(cfg.num_categories):
        seen.append(c)
        c = int(nxt[c])
    assert c == 0 and sorted(seen) == list(range(cfg.num_categories))  # never stuck, visits all


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_session_drift_must_be_a_probability(value):
    with pytest.raises(ValueError, match=r"SyntheticConfig\.session_drift=.*probability in \[0, 1\]"):
        SyntheticConfig(session_drift=value)
