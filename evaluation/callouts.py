"""Which differences a reader is told about: only those whose 95% interval excludes 0.

Two kinds, both from TFMA's own intervals (``eval.confidence_intervals``):

* **candidate vs baseline** (overall and per slice): TFMA's interval of the ``*_diff`` metric. TFMA
  computes the diff on every resample (jackknife bucket / bootstrap draw) from both models, so the
  noise the two share cancels; this is the paired interval.
* **a slice vs overall**: TFMA 0.47 gives no interval of a slice's difference from overall, so the
  slice's own interval, shifted by the overall value, stands in: ``[lo - overall, hi - overall]``.
  This is conservative: the slice is part of overall, and for a metric that is a mean over
  examples, var(slice - overall) = (1 - p) var(slice), p the slice's share of the examples, so the
  exact interval of the difference is narrower; whatever is called out here the exact test would
  call out too (a 95% test: about 1 slice in 20 with no real difference is still called out).

Small slices (``is_small``) are never called out: their resampled intervals are unreliable (on
the default data the jackknife gives a 13-example cross slice an AUC of 0.0 with the interval
[0.0, 0.0], since most of its 20 buckets hold one example or none). Without intervals
(``confidence_intervals = "off"``) nothing is called out: a point difference is no finding.
"""

from __future__ import annotations

import dataclasses

from recsys.evaluation.eval_result import OVERALL, Evaluation, Interval, SliceMetrics

# A slice is small when it holds under 1% of the evaluated examples or under 100 of them: its
# interval is wide or, resampled from a handful of examples, wrong; never called out, marked in
# the plots.
SMALL_SHARE = 0.01
SMALL_EXAMPLES = 100


@dataclasses.dataclass(frozen=True)
class Difference:
    slice: str
    metric: str
    value: float  # slice minus overall, or candidate minus baseline
    interval: Interval | None  # 95%, of ``value``
    against: str  # "overall" or "baseline"

    @property
    def significant(self) -> bool:
        return excludes_zero(self.interval)

    def text(self) -> str:
        lo, hi = self.interval if self.interval else (float("nan"),) * 2
        what = "vs overall" if self.against == "overall" else "vs baseline"
        return f"{self.slice}: {self.metric} {self.value:+.4f} {what} (95% CI {lo:+.4f} to {hi:+.4f})"


def excludes_zero(interval: Interval | None) -> bool:
    return interval is not None and (interval[0] > 0 or interval[1] < 0)


def is_small(s: SliceMetrics, overall_examples: float) -> bool:
    n = s.example_count
    return n < SMALL_EXAMPLES or n < SMALL_SHARE * overall_examples


def vs_overall(evaluation: Evaluation, metric: str) -> list[Difference]:
    """Every slice's difference from overall on ``metric`` (slices without the metric skipped)."""
    overall = evaluation.overall.get(metric)
    if overall is None:
        return []
    out = []
    for s in evaluation.slices:
        if s.slice == OVERALL or metric not in s.metrics:
            continue
        iv = s.intervals.get(metric)
        out.append(Difference(s.slice, metric, s.metrics[metric] - overall,
                              None if iv is None else (iv[0] - overall, iv[1] - overall), "overall"))
    return out


def vs_baseline(evaluation: Evaluation, metric: str) -> list[Difference]:
    """Every slice's (overall's too) candidate-minus-baseline difference on ``metric``."""
    return [Difference(s.slice, metric, s.diffs[metric], s.diff_intervals.get(metric), "baseline")
            for s in evaluation.slices if metric in s.diffs]


def small_slices(evaluation: Evaluation) -> set[str]:
    total = evaluation.slices[0].example_count if evaluation.overall else 0.0
    return {s.slice for s in evaluation.slices if s.slice != OVERALL and is_small(s, total)}


def called_out(evaluation: Evaluation, metric: str) -> list[Difference]:
    """The significant differences on ``metric``, small slices left out: overall against the
    baseline first; then the slices whose change against the baseline goes the other way (or,
    when overall did not move, any slice that did: a regression hidden in the average); then the
    slices apart from overall. Largest first within each."""
    small = small_slices(evaluation)
    by_baseline = [d for d in vs_baseline(evaluation, metric) if d.significant and d.slice not in small]
    overall = next((d for d in by_baseline if d.slice == OVERALL), None)
    slices = [d for d in by_baseline if d.slice != OVERALL
              and (overall is None or (d.value > 0) != (overall.value > 0))]
    apart = [d for d in vs_overall(evaluation, metric) if d.significant and d.slice not in small]
    return ([overall] if overall else []) + sorted(slices, key=lambda d: -abs(d.value)) + \
        sorted(apart, key=lambda d: -abs(d.value))
