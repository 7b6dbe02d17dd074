"""Which part of the hidden world a scorer captures: the oracle's click logit split into its terms.

  .venv/bin/python -m benchmarks.oracle_terms      # records "oracle_terms" in ranking_synthetic.json

The synthetic world's true click logit (``data/synthetic.py``) is a sum,

    b + dot (p_u.q_i) + affinity (a_u,cat(i)) + price (-s_u*log(price_i/median))
      + popularity (W_POP*z(log pi_i)) + freshness (W_REC*exp(-age_days/TAU_DAYS)),

so on the eval split of the benchmark protocol (temporal, last 20% of time) two numbers per term
say how much it matters for ranking: the AUC of the oracle *without* it (the loss if a model missed
exactly that term) and the AUC of the term alone; ``dot_proxies`` bound how much of the dot term
is learnable from a user x category table or from the history. ``term_fit`` regresses a ranker's logits on the
terms: a coefficient near 0 is a term the ranker does not carry (a perfect model has all of them
equal; ``r2`` is the share of its logit the terms explain). Used by ``benchmarks/synthetic_headroom``
for every ranker it scores.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from recsys.data.synthetic import DAY, TAU_DAYS, W_POP, W_REC, World

TERMS = ("dot", "affinity", "price", "popularity", "freshness")


def oracle_terms(world: World, users, items, t) -> dict[str, np.ndarray]:
    """The terms of ``world.click_logit(users, items, t)`` without its bias, by name (``TERMS``).
    Reads the world's own ``_terms`` (dot, affinity, price) so the split cannot drift from the
    click model; the two item-only terms are rebuilt from the module's published weights, and
    ``tests/benchmarks/test_oracle_terms.py`` checks the sum against ``click_logit``."""
    users, items, t = np.asarray(users), np.asarray(items), np.asarray(t)
    dot, affinity, price = world._terms(users, items)
    age_days = np.maximum(t - world.item_release[items], 0) / DAY
    return {"dot": dot, "affinity": affinity, "price": -price,
            "popularity": W_POP * world._pop_z[items],
            "freshness": W_REC * np.exp(-age_days / TAU_DAYS)}


def term_ablation(y: np.ndarray, terms: dict[str, np.ndarray], auc) -> dict[str, dict]:
    """Per term: the AUC of the oracle logit without it and of the term alone (``auc(y, s)``)."""
    full = sum(terms.values())
    return {k: {"oracle_without": auc(y, full - v), "alone": auc(y, v), "std": float(v.std())}
            for k, v in terms.items()}


def term_fit(logits: np.ndarray, terms: dict[str, np.ndarray]) -> dict:
    """Least-squares ``logits ~ sum_k c_k * term_k + c0``: the coefficients by term and the r2."""
    x = np.stack([terms[k] for k in TERMS] + [np.ones_like(logits)], axis=1)
    coef, *_ = np.linalg.lstsq(x, logits, rcond=None)
    resid = logits - x @ coef
    return {"coefficients": {k: float(c) for k, c in zip(TERMS, coef)},
            "r2": float(1.0 - resid.var() / max(logits.var(), 1e-12))}


def dot_proxies(world: World, users, items, histories: list[list[int]]) -> dict[str, np.ndarray]:
    """Two readings of the dot term a ranker could learn at best, using the world's true factors:
    ``user_category`` = p_u . (mean q of the item's category), what a user x category table can
    hold; ``history_similarity`` = (mean q of the history items) . q_i, what comparing the history
    with the candidate (DIN, an FM's history x item pair) can hold with perfect item vectors."""
    q, cats = world.item_factor, world.item_category
    centroid = np.stack([q[cats == c].mean(0) if (cats == c).any() else np.zeros(q.shape[1])
                         for c in range(world.config.num_categories)])
    mean_q = np.stack([q[h].mean(0) if len(h) else np.zeros(q.shape[1]) for h in histories])
    return {"user_category": np.sum(world.user_factor[users] * centroid[cats[items]], axis=1),
            "history_similarity": np.sum(mean_q * q[items], axis=1)}


def main():
    from benchmarks.machine import record, stamp
    from benchmarks.synthetic_headroom import RESULTS
    from recsys.config import DEFAULT_CONFIG_PATH, load_config
    from recsys.data.prepare import synthetic_config
    from recsys.data.synthetic import generate, temporal_cutoff
    from recsys.evaluation.metrics import auc

    config = load_config(DEFAULT_CONFIG_PATH, ["data.split=temporal"])
    sc = synthetic_config(config)
    world = World.build(sc)
    recs = list(generate(sc, world))
    t = np.array([r["timestamp"] for r in recs])
    ev = t >= temporal_cutoff(sc, 1 - config.data.eval_fraction)  # the eval split (data/prepare.py)
    y = np.array([r["label"] for r in recs], float)[ev]
    users = np.array([int(r["user_id"][1:]) for r in recs])[ev]
    items = np.array([int(r["item_id"][1:]) for r in recs])[ev]
    terms = oracle_terms(world, users, items, t[ev])
    full = sum(terms.values())
    result = {"oracle": auc(y, full), "terms": term_ablation(y, terms, auc), "dot_replaced_by": {}}
    histories = [[int(h[1:]) for h in r["history"]] for r, e in zip(recs, ev) if e]
    for name, proxy in dot_proxies(world, users, items, histories).items():
        scale = np.polyfit(proxy, terms["dot"], 1)[0]  # its best linear reading of the dot term
        result["dot_replaced_by"][name] = {"oracle_auc": auc(y, full - terms["dot"] + scale * proxy),
                                           "corr_with_dot": float(np.corrcoef(proxy, terms["dot"])[0, 1])}
    print(json.dumps(result, indent=2))
    record(RESULTS, {"oracle_terms": {"results": result, "eval_examples": int(y.size), **stamp(),
                                      "data": "synthetic default, data.split=temporal, eval split"}})


if __name__ == "__main__":
    sys.exit(main())
