"""``recsys report``: the evaluation as a terminal table and one self-contained HTML file.

The HTML works offline and stands alone (e-mail it, attach it to a review): inline CSS, plots as
base64 PNG data URIs, no script, no external URL. Every number cell carries its exact value in
``data-value`` (and ``data-slice``/``data-metric``), so tests and tools can parse the report back
and check it against TFMA's own result.

Sections: the validation verdict, overall metrics, candidate vs baseline, the per-slice table, the
calibration plot (from TFMA's CalibrationPlot), AUC per slice, and retrieval metrics when a
``retrieval_metrics.json`` was given or found.
"""

from __future__ import annotations

import base64
import html
import io
import math

from recsys.evaluation.eval_result import OVERALL, Evaluation

# Columns shown first (and the only ones in the terminal table); every other scalar metric
# follows in the HTML slice table.
KEY_METRICS = ("example_count", "auc", "auc_precision_recall", "binary_crossentropy", "calibration",
               "mean_label", "mean_prediction", "gauc", "ndcg@5", "ndcg@10", "min_label_position",
               "total_queries", "root_mean_squared_error")
PLOT_BUCKETS = 20  # CalibrationPlot has 1,000 buckets; merged into 20 for a readable plot


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
"""


def _na(why: str, **data) -> str:
    """An undefined metric: "n/a" with its reason as a tooltip and in ``data-undefined``."""
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    return f'<td class="na" title="{html.escape(why)}" data-undefined="{html.escape(why)}"{attrs}>{NA}</td>'


def _cell(x, **data) -> str:
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return f'<td{attrs}>{html.escape(str(x))}</td>'
    if not math.isfinite(float(x)):  # e.g. a NaN in a retrieval_metrics.json written elsewhere
        return _na("not a finite number", **data)
    # repr: the exact double, so a parse-back compares bit for bit
    return f'<td class="n" data-value="{float(x)!r}"{attrs}>{fmt(float(x))}</td>'


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def calibration_png(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")  # no display needed (CI, servers)
    import matplotlib.pyplot as plt

    merged: dict[int, list[float]] = {}
    for b in evaluation.calibration:
        i = min(PLOT_BUCKETS - 1, max(0, int(b.mean_prediction * PLOT_BUCKETS)))
        acc = merged.setdefault(i, [0.0, 0.0, 0.0])  # examples, sum of predictions, sum of labels
        acc[0] += b.examples
        acc[1] += b.mean_prediction * b.examples
        acc[2] += b.mean_label * b.examples
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, label="perfectly calibrated")
    if merged:
        pts = sorted((v[1] / v[0], v[2] / v[0], v[0]) for v in merged.values())
        total = sum(p[2] for p in pts)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=[20 + 400 * p[2] / total for p in pts],
                   alpha=.7, label="buckets (area ~ examples)")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
    ax.set(xlabel="mean prediction", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title="Calibration (overall slice)")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def auc_by_slice_png(evaluation: Evaluation, metric: str = "auc") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Single-feature slices only: crosses multiply the rows and are in the table.
    rows = [s for s in evaluation.slices if metric in s.metrics and " & " not in s.slice]
    fig, ax = plt.subplots(figsize=(6.5, 0.25 * len(rows) + 1))
    ax.barh([s.slice for s in rows][::-1], [s.metrics[metric] for s in rows][::-1], color="#4c78a8")
    overall = evaluation.overall.get(metric)
    if overall is not None:
        ax.axvline(overall, color="#b00020", lw=1, label=f"overall {overall:.4f}")
        ax.legend(loc="lower right", fontsize=8)
    values = [s.metrics[metric] for s in rows]
    if values:  # zoom in: slice differences of a few points are what matters
        ax.set_xlim(max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.02))
    ax.set(xlabel=metric, title=f"{metric} per slice")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _metric_table(rows: list[tuple[str, dict]], cols: list[str], table_id: str,
                  undefined: list[dict] | None = None) -> str:
    """One row per (name, metrics); ``undefined[i]``: row i's metric -> why it has no value."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["slice"] + cols)
    body = []
    for i, (name, metrics) in enumerate(rows):
        na = undefined[i] if undefined else {}
        cells = "".join(_na(na[c], slice=name, metric=c) if c in na else
                        _cell(metrics.get(c, ""), slice=name, metric=c) for c in cols)
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return (f'<div class="scroll"><table id="{table_id}"><tr>{head}</tr>'
            + "".join(body) + "</table></div>")


def _reasons(evaluation: Evaluation, cols: list[str]) -> str:
    reasons = undefined_reasons(evaluation, cols)
    return "" if not reasons else (f'<ul class="na-reasons">' + "".join(
        f"<li>{NA}: {html.escape(r)}</li>" for r in reasons) + "</ul>")


def _comparison(evaluation: Evaluation) -> str:
    if evaluation.baseline is None:
        # Not only the first run: a blessed model of another dataset or label mode is no baseline.
        return ("<p>No baseline: no earlier blessed model is comparable with this one (first run, or "
                "a new dataset or label mode; the Resolver logs why each was skipped).</p>")
    overall = evaluation.slices[0]
    rows = []
    for m in columns(evaluation, all_metrics=True):
        if m not in overall.diffs:
            continue
        d = overall.diffs[m]
        cls = "pos" if d > 0 else "neg" if d < 0 else ""
        rows.append(f"<tr><th>{html.escape(m)}</th>"
                    + _cell(overall.metrics.get(m, ""), model="candidate", metric=m)
                    + _cell(evaluation.baseline.get(m, ""), model="baseline", metric=m)
                    + _cell(d, model="diff", metric=m).replace('class="n"', f'class="n {cls}"')
                    + "</tr>")
    return ('<table id="comparison"><tr><th>metric</th><th>candidate</th><th>baseline (last '
            'blessed)</th><th>candidate − baseline</th></tr>' + "".join(rows) + "</table>")


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


def render_html(evaluation: Evaluation, retrieval: dict | None = None, title: str = "Evaluation") -> str:
    v = evaluation.verdict
    verdict_cls = "" if v is None else ("ok" if v.passed else "bad")
    failures = "" if v is None or not v.failures else (
        "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in v.failures) + "</ul>")
    all_cols = columns(evaluation, all_metrics=True)
    overall = [(OVERALL, evaluation.overall)]
    overall_na = [evaluation.slices[0].undefined if evaluation.overall else {}]
    sections = [
        f"<h1>{html.escape(title)}</h1><p>TFMA result: <code>{html.escape(evaluation.uri)}</code>"
        f"; candidate model name: <code>{html.escape(evaluation.candidate or '(single model)')}</code></p>",
        f'<h2>Validation verdict</h2><p id="verdict" class="{verdict_cls}" data-passed="'
        f'{"" if v is None else str(v.passed).lower()}">{verdict_headline(evaluation)}'
        f"</p>{failures}",
        "<h2>Overall metrics</h2>" + _metric_table(overall, all_cols, "overall", overall_na),
        "<h2>Candidate vs baseline</h2>" + _comparison(evaluation),
        "<h2>Per-slice metrics</h2>" + _metric_table(
            [(s.slice, s.metrics) for s in evaluation.slices], all_cols, "slices",
            [s.undefined for s in evaluation.slices]) + _reasons(evaluation, all_cols),
        "<h2>Calibration</h2>" + calibration_png(evaluation),
        "<h2>AUC per slice</h2>" + (auc_by_slice_png(evaluation) if "auc" in evaluation.overall
                                    else "<p>No AUC (regression model).</p>"),
        "<h2>Retrieval</h2>" + _retrieval(retrieval),
    ]
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body>" + "\n".join(sections) + "</body></html>")
