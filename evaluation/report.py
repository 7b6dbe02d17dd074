"""``recsys report``: the evaluation as a terminal table and one self-contained HTML file.

The HTML works offline and stands alone (e-mail it, attach it to a review): inline CSS, plots as
base64 PNG data URIs, no script, no external URL. Every number cell carries its exact value in
``data-value`` (and ``data-slice``/``data-metric``; with TFMA's 95% interval, ``data-lower`` and
``data-upper``), so tests and tools can parse the report back and check it against TFMA's result.

Read top-down, it answers the questions in the order a reviewer asks them: the verdict and the
headline figures (with intervals and the change against the baseline), the differences that are
more than noise (``callouts.py``: only those whose interval excludes 0), then the plots (the gated
metric per slice with error bars, sorted, small slices marked; calibration; the retriever's
Recall@K against popularity), the history of blessed models when there is one, and last the full
tables, folded (``<details>``).
"""

from __future__ import annotations

import html
import math

from recsys.evaluation import callouts, report_plots
from recsys.evaluation.eval_result import ERROR_NAME, OVERALL, Evaluation, Interval, SliceMetrics

# Columns shown first (and the only ones in the terminal table); every other scalar metric
# follows in the HTML slice table.
KEY_METRICS = ("example_count", "auc", "auc_precision_recall", "binary_crossentropy", "calibration",
               "mean_label", "mean_prediction", "gauc", "ndcg@5", "ndcg@10", "min_label_position",
               "total_queries", "root_mean_squared_error")
MAX_CALLOUTS = 12  # beyond this, the plot says it better than a list
# The few figures the report opens with, when the evaluation has them.
HEADLINE_METRICS = ("auc", "gauc", "ndcg@10", "calibration", "binary_crossentropy",
                    "root_mean_squared_error")


def columns(evaluation: Evaluation, *, all_metrics: bool) -> list[str]:
    present = {m for s in evaluation.slices for m in (*s.metrics, *s.undefined)}
    key = [m for m in KEY_METRICS if m in present]
    return key + (sorted(present - set(key)) if all_metrics else [])


NA = "n/a"  # a metric with no value on a slice; the reason is beside it (never a bare NaN)


def fmt(x: float | None) -> str:
    if x is None:
        return ""
    if isinstance(x, float) and not math.isfinite(x):
        return NA
    if float(x).is_integer() and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.4f}"


def terminal_table(evaluation: Evaluation) -> str:
    """The per-slice table, aligned for a terminal (key metrics only)."""
    cols = columns(evaluation, all_metrics=False)
    rows = [["slice"] + cols] + [[s.slice] + [NA if c in s.undefined else fmt(s.metrics.get(c))
                                              for c in cols] for s in evaluation.slices]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [f"{NA}: {why}" for why in undefined_reasons(evaluation, cols)])


def undefined_reasons(evaluation: Evaluation, cols: list[str]) -> list[str]:
    """Each distinct reason for an n/a among ``cols``, with how many cells it explains."""
    counts: dict[str, int] = {}
    for s in evaluation.slices:
        for metric, why in s.undefined.items():
            if metric in cols:
                counts[why] = counts.get(why, 0) + 1
    return [f"{why} ({n} cells)" for why, n in counts.items()]


def verdict_headline(evaluation: Evaluation) -> str:
    v = evaluation.verdict
    return "NOT VALIDATED" if v is None else "BLESSED" if v.passed else "NOT BLESSED"


def verdict_text(evaluation: Evaluation) -> str:
    v = evaluation.verdict
    if v is None:
        return "NOT VALIDATED: the evaluation had no thresholds"
    return "BLESSED: every threshold passed" if v.passed else \
        "NOT BLESSED: " + "; ".join(v.failures)


def headline_metrics(evaluation: Evaluation) -> list[str]:
    return [m for m in HEADLINE_METRICS if m in evaluation.overall]


def gated_metric(evaluation: Evaluation) -> str | None:
    """The metric the gate reads (AUC; RMSE for a regression ranker): the per-slice plot's."""
    return next((m for m in ("auc", "root_mean_squared_error") if m in evaluation.overall), None)


def ci_text(interval: Interval | None, signed: bool = False) -> str:
    if interval is None:
        return ""
    f = "{:+.4f}" if signed else "{:.4f}"
    return f"[{f.format(interval[0])}, {f.format(interval[1])}]"


def has_intervals(evaluation: Evaluation) -> bool:
    return bool(evaluation.slices and evaluation.slices[0].intervals)


def callout_lines(evaluation: Evaluation) -> list[str]:
    """What is more than noise on the gated metric, in words (``callouts.py``)."""
    metric = gated_metric(evaluation)
    if metric is None:
        return []
    if not has_intervals(evaluation):
        return ["no confidence intervals (eval.confidence_intervals = off): no slice difference is "
                "called out"]
    found = callouts.called_out(evaluation, metric)
    small = callouts.small_slices(evaluation)
    compared = sum(d.slice not in small for d in callouts.vs_overall(evaluation, metric))
    apart = sum(d.against == "overall" for d in found)
    lines = [f"{apart} of {compared} slices differ from overall on {metric} (95% interval "
             f"excludes 0); the others are within noise"
             + (f"; {len(small)} small slices (under {callouts.SMALL_EXAMPLES} examples or "
                f"{callouts.SMALL_SHARE:.0%} of them) are not judged" if small else "")]
    shown = [d.text() for d in found]
    if len(shown) > MAX_CALLOUTS:
        shown = shown[:MAX_CALLOUTS] + [f"... and {len(shown) - MAX_CALLOUTS} more (the plot and "
                                        "the full tables show every slice)"]
    return lines + shown


def headline_rows(evaluation: Evaluation) -> list[tuple[str, float, Interval | None, float | None,
                                                        float | None, Interval | None]]:
    """(metric, candidate, its interval, baseline, candidate - baseline, that change's interval)."""
    overall = evaluation.slices[0] if evaluation.overall else None
    if overall is None:
        return []
    base = evaluation.baseline or {}
    return [(m, overall.metrics[m], overall.intervals.get(m), base.get(m), overall.diffs.get(m),
             overall.diff_intervals.get(m)) for m in headline_metrics(evaluation)]


def headline_text(evaluation: Evaluation) -> str:
    """The headline figures for the terminal: value, 95% interval, baseline, change."""
    rows = [["metric", "candidate", "95% CI", "baseline", "change", "change 95% CI"]]
    for m, value, iv, base, diff, diff_iv in headline_rows(evaluation):
        rows.append([m, fmt(value), ci_text(iv), fmt(base), "" if diff is None else f"{diff:+.4f}",
                     ci_text(diff_iv, signed=True)])
    if evaluation.baseline is None:
        rows = [r[:3] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(r, widths))) for r in rows) + (
        "\n" + NO_BASELINE if evaluation.baseline is None else "")


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3;position:sticky;top:0}
.scroll{overflow-x:auto}
.ok{color:#176f2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}
.pos{color:#176f2c}.neg{color:#b00020}
td.na{text-align:right;color:#777;cursor:help}
td.why{color:#777;font-size:85%;min-width:20em}
span.ci{color:#777;font-size:85%}
details{margin:.5em 0}summary{cursor:pointer;font-weight:bold}
"""


def _na(why: str, **data) -> str:
    """An undefined metric: "n/a" with its reason as a tooltip and in ``data-undefined``."""
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    return f'<td class="na" title="{html.escape(why)}" data-undefined="{html.escape(why)}"{attrs}>{NA}</td>'


def _cell(x, interval: Interval | None = None, cls: str = "", show_ci: bool = True, **data) -> str:
    """A number cell: the exact value in ``data-value``; with TFMA's 95% interval, its bounds in
    ``data-lower``/``data-upper`` and its half-width shown beside the value."""
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return f'<td{attrs}>{html.escape(str(x))}</td>'
    if not math.isfinite(float(x)):  # e.g. a NaN in a retrieval_metrics.json written elsewhere
        return _na("not a finite number", **data)
    shown = fmt(float(x))
    if interval is not None:
        attrs += f' data-lower="{interval[0]!r}" data-upper="{interval[1]!r}"'
    if interval is not None and show_ci:
        shown += (f' <span class="ci" title="95% CI {interval[0]:.4f} to {interval[1]:.4f}">'
                  f"±{(interval[1] - interval[0]) / 2:.4f}</span>")
    # repr: the exact double, so a parse-back compares bit for bit
    return f'<td class="{("n " + cls).strip()}" data-value="{float(x)!r}"{attrs}>{shown}</td>'


def interval_note(s: SliceMetrics) -> str:
    """Why ``s`` has no interval, TFMA's text per resampling pass ("" when it has them all):
    ``__ERROR__`` is the example-level pass's, ``__ERROR__per_user`` the per-user pass's."""
    return "; ".join(f"{(k.removeprefix(ERROR_NAME) or 'example-level').replace('_', ' ')}: {v}"
                     for k, v in sorted(s.interval_errors.items()))


def _metric_table(rows: list[tuple[str, dict]], cols: list[str], table_id: str,
                  undefined: list[dict] | None = None, intervals: list[dict] | None = None,
                  notes: list[str] | None = None) -> str:
    """One row per (name, metrics); ``undefined[i]``: row i's metric -> why it has no value;
    ``intervals[i]``: row i's metric -> its 95% interval; ``notes[i]``: why row i has no
    interval (a last column, only when some row has a note)."""
    notes = notes if notes and any(notes) else None
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["slice"] + cols
                   + (["no 95% CI because"] if notes else []))
    body = []
    for i, (name, metrics) in enumerate(rows):
        na = undefined[i] if undefined else {}
        iv = intervals[i] if intervals else {}
        cells = "".join(_na(na[c], slice=name, metric=c) if c in na else
                        _cell(metrics.get(c, ""), iv.get(c), slice=name, metric=c) for c in cols)
        if notes:
            # A metric without an interval beside this reads as "not computed", not as certain.
            cells += (f'<td class="why" data-slice="{html.escape(name)}" data-interval-errors="'
                      f'{html.escape(notes[i])}">{html.escape(notes[i])}</td>')
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return (f'<div class="scroll"><table id="{table_id}"><tr>{head}</tr>'
            + "".join(body) + "</table></div>")


def _reasons(evaluation: Evaluation, cols: list[str]) -> str:
    reasons = undefined_reasons(evaluation, cols)
    return "" if not reasons else (f'<ul class="na-reasons">' + "".join(
        f"<li>{NA}: {html.escape(r)}</li>" for r in reasons) + "</ul>")


NO_BASELINE = ("No baseline: no earlier blessed model is comparable with this one (first run, or a "
               "new dataset or label mode; the Resolver logs why each was skipped).")


def _sign_class(d: float, interval: Interval | None) -> str:
    """Colour a change only when it is more than noise (or when there are no intervals at all)."""
    if interval is not None and not callouts.excludes_zero(interval):
        return ""
    return "pos" if d > 0 else "neg" if d < 0 else ""


def _comparison(evaluation: Evaluation) -> str:
    if evaluation.baseline is None:
        # Not only the first run: a blessed model of another dataset or label mode is no baseline.
        return f"<p>{NO_BASELINE}</p>"
    overall = evaluation.slices[0]
    rows = []
    for m in columns(evaluation, all_metrics=True):
        if m not in overall.diffs:
            continue
        d, iv = overall.diffs[m], overall.diff_intervals.get(m)
        rows.append(f"<tr><th>{html.escape(m)}</th>"
                    + _cell(overall.metrics.get(m, ""), overall.intervals.get(m), model="candidate",
                            metric=m)
                    + _cell(evaluation.baseline.get(m, ""), evaluation.baseline_intervals.get(m),
                            model="baseline", metric=m)
                    + _cell(d, iv, _sign_class(d, iv), model="diff", metric=m) + "</tr>")
    return ('<table id="comparison"><tr><th>metric</th><th>candidate</th><th>baseline (last '
            'blessed)</th><th>candidate − baseline</th></tr>' + "".join(rows) + "</table>")


def _headline(evaluation: Evaluation) -> str:
    """The few figures a reader opens the report for: value, 95% interval, change vs baseline."""
    rows = []
    for m, value, iv, base, diff, diff_iv in headline_rows(evaluation):
        change = ("<td></td><td></td>" if diff is None else
                  _cell(diff, diff_iv, _sign_class(diff, diff_iv), False, model="diff", metric=m)
                  + f"<td>{ci_text(diff_iv, signed=True)}</td>")
        rows.append(f"<tr><th>{html.escape(m)}</th>"
                    + _cell(value, iv, show_ci=False, model="candidate", metric=m)
                    + f"<td>{ci_text(iv)}</td>"
                    + (_cell(base, model="baseline", metric=m) if base is not None else "<td></td>")
                    + change + "</tr>")
    if not rows:
        return "<p>No overall metrics.</p>"
    return ('<table id="headline"><tr><th>metric</th><th>candidate</th><th>95% CI</th>'
            "<th>baseline (last blessed)</th><th>change</th><th>change 95% CI</th></tr>"
            + "".join(rows) + "</table>"
            + ("" if evaluation.baseline is not None else f"<p>{NO_BASELINE}</p>"))


def _callouts(evaluation: Evaluation) -> str:
    lines = callout_lines(evaluation)
    if not lines:
        return ""
    return (f"<p>{html.escape(lines[0])}</p>" + ('<ul id="callouts">' + "".join(
        f"<li>{html.escape(line)}</li>" for line in lines[1:]) + "</ul>" if lines[1:] else ""))


def _numbers(d) -> bool:
    return isinstance(d, dict) and all(isinstance(v, (int, float)) for v in d.values())


def _retrieval_block(path: list[str], value) -> str:
    """Generic over the JSON's keys: a dict of numbers is a one-row table, a dict of such dicts a
    grid (e.g. slices x metrics), any other dict a sub-section, a list a bullet list."""
    name = html.escape(path[-1])
    table_id = "retrieval-" + "-".join(path)
    if _numbers(value):
        return f"<h3>{name}</h3>" + _metric_table([(path[-1], value)], list(value), table_id)
    if isinstance(value, dict) and value and all(_numbers(v) for v in value.values()):
        cols = list(dict.fromkeys(c for v in value.values() for c in v))
        return f"<h3>{name}</h3>" + _metric_table(list(value.items()), cols, table_id)
    if isinstance(value, dict):
        return f"<h3>{name}</h3><div style=\"margin-left:1.5em\">" + "".join(
            _retrieval_block(path + [str(k)], v) for k, v in value.items()) + "</div>"
    if isinstance(value, list):
        items = "".join(f"<li>{html.escape(str(v))}</li>" for v in value) or "<li>(none)</li>"
        return f"<p><b>{name}</b></p><ul>{items}</ul>"
    return f"<p><b>{name}</b>: {html.escape(str(value))}</p>"


def _retrieval(retrieval: dict | None) -> str:
    if retrieval is None:
        return "<p>No retrieval model evaluated.</p>"
    return "".join(_retrieval_block([str(k)], v) for k, v in retrieval.items())


def _retrieval_headline(retrieval: dict) -> str:
    """The retriever's overall figures beside popularity's, and the lift."""
    model = retrieval.get("overall", {})
    popularity = retrieval.get("baseline", {}).get("overall", {})
    rows = []
    for m, x in model.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or m == "count":
            continue
        p = popularity.get(m)
        rows.append(f"<tr><th>{html.escape(m)}</th>" + _cell(x, model="two towers", metric=m)
                    + (_cell(p, model="popularity", metric=m) + _cell(x - p, model="lift", metric=m)
                       if isinstance(p, (int, float)) else "<td></td><td></td>") + "</tr>")
    blessed = retrieval.get("blessed")
    verdict = ("" if blessed is None else f'<p class="{"ok" if blessed else "bad"}">retriever '
               f'{"BLESSED" if blessed else "NOT BLESSED"}</p>')
    return verdict + ('<table id="recall-headline"><tr><th>metric (overall)</th><th>two towers</th>'
                      "<th>popularity</th><th>lift</th></tr>" + "".join(rows) + "</table>")


def _history(history: list | None, metric: str | None) -> str:
    """``history.blessed_history``: a plot and a folded table, from two blessed runs on."""
    if not history or len(history) < 2:
        return ""
    rows = "".join(
        f"<tr><th>{html.escape(h.label)}</th>" + "".join(
            _cell(h.metrics[m], h.intervals.get(m), run=h.label, metric=m) if m in h.metrics
            else "<td></td>" for m in HEADLINE_METRICS if any(m in x.metrics for x in history))
        + "</tr>" for h in history)
    cols = [m for m in HEADLINE_METRICS if any(m in x.metrics for x in history)]
    plot = report_plots.history_png(history, metric) if metric else None
    return ("<h2>Blessed models over time</h2>" + (plot or "")
            + '<details><summary>table</summary><table id="history"><tr><th>run</th>'
            + "".join(f"<th>{html.escape(m)}</th>" for m in cols) + "</tr>" + rows
            + "</table></details>")


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def render_html(evaluation: Evaluation, retrieval: dict | None = None, title: str = "Evaluation",
                history: list | None = None) -> str:
    """The report, top-down: verdict, headline figures, call-outs; plots; history; full tables
    (folded). ``history``: ``history.blessed_history`` of the run's MLMD store, if any."""
    v = evaluation.verdict
    verdict_cls = "" if v is None else ("ok" if v.passed else "bad")
    failures = "" if v is None or not v.failures else (
        "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in v.failures) + "</ul>")
    all_cols = columns(evaluation, all_metrics=True)
    overall = [(OVERALL, evaluation.overall)]
    overall_na = [evaluation.slices[0].undefined if evaluation.overall else {}]
    overall_iv = [evaluation.slices[0].intervals if evaluation.overall else {}]
    metric = gated_metric(evaluation)
    recall_plot = report_plots.recall_curves_png(retrieval) if retrieval else None
    intervals_note = ("95% confidence intervals computed by TFMA" if has_intervals(evaluation) else
                      "no confidence intervals (eval.confidence_intervals = off)")
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p id="verdict" class="{verdict_cls}" data-passed="'
        f'{"" if v is None else str(v.passed).lower()}">{verdict_headline(evaluation)}'
        f"</p>{failures}",
        f"<h2>Headline (overall slice; {intervals_note})</h2>" + _headline(evaluation)
        + _callouts(evaluation),
        f"<h2>{html.escape(metric or '')} per slice</h2>" + (
            report_plots.metric_by_slice_png(evaluation, metric) if metric else "<p>No AUC or RMSE.</p>"),
        "<h2>Calibration</h2>" + (report_plots.calibration_png(evaluation) if evaluation.calibration
                                  or "calibration" in evaluation.overall else
                                  "<p>No calibration plot (regression model).</p>"),
        "<h2>Retrieval</h2>" + (_retrieval_headline(retrieval) + (recall_plot or "")
                                if retrieval else _retrieval(None)),
        _history(history, metric),
        "<h2>Full tables</h2>",
        _details("Overall: every metric", _metric_table(overall, all_cols, "overall", overall_na,
                                                        overall_iv)),
        _details("Candidate vs baseline: every metric", _comparison(evaluation)),
        _details(f"Every slice ({len(evaluation.slices)}), every metric", _metric_table(
            [(s.slice, s.metrics) for s in evaluation.slices], all_cols, "slices",
            [s.undefined for s in evaluation.slices], [s.intervals for s in evaluation.slices],
            [interval_note(s) for s in evaluation.slices])
            + _reasons(evaluation, all_cols)),
        _details("Retrieval: every figure", _retrieval(retrieval)) if retrieval else "",
        f"<p>TFMA result: <code>{html.escape(evaluation.uri)}</code>; candidate model name: "
        f"<code>{html.escape(evaluation.candidate or '(single model)')}</code></p>",
    ]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>" + "\n".join(sections) + "</body></html>")
