"""The report's plots, each a self-contained ``<img>`` (PNG in a data URI, no script, no URL):
the gated metric per slice with TFMA's 95% intervals as error bars, calibration, the retriever's
Recall@K against popularity, and blessed models over time."""

from __future__ import annotations

import base64
import io

from recsys.evaluation import callouts
from recsys.evaluation.eval_result import OVERALL, Evaluation

PLOT_BUCKETS = 20  # CalibrationPlot has 1,000 buckets; merged into 20 for a readable plot
BLUE, GREEN, RED, GREY = "#4c78a8", "#176f2c", "#b00020", "#999999"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed (CI, servers)
    import matplotlib.pyplot as plt

    return plt


def png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def calibration_png(evaluation: Evaluation) -> str:
    plt = _pyplot()
    merged: dict[int, list[float]] = {}
    for b in evaluation.calibration:
        i = min(PLOT_BUCKETS - 1, max(0, int(b.mean_prediction * PLOT_BUCKETS)))
        acc = merged.setdefault(i, [0.0, 0.0, 0.0])  # examples, sum of predictions, sum of labels
        acc[0] += b.examples
        acc[1] += b.mean_prediction * b.examples
        acc[2] += b.mean_label * b.examples
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, label="perfectly calibrated")
    if merged:
        pts = sorted((v[1] / v[0], v[2] / v[0], v[0]) for v in merged.values())
        total = sum(p[2] for p in pts)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=[20 + 400 * p[2] / total for p in pts],
                   alpha=.7, label="buckets (area ~ examples)")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
    ax.set(xlabel="mean prediction", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title="Calibration (overall slice)")
    ax.legend(loc="upper left", fontsize=8)
    return png(fig, "calibration")


def metric_by_slice_png(evaluation: Evaluation, metric: str) -> str:
    """Every slice's ``metric``, sorted, with its 95% interval; the overall value and interval as a
    line and a band. Green/red: the slice's interval lies wholly above/below overall
    (``callouts.vs_overall``); grey hollow: a small slice (``callouts.is_small``)."""
    plt = _pyplot()
    total = evaluation.slices[0].example_count if evaluation.overall else 0.0
    rows = sorted((s for s in evaluation.slices if s.slice != OVERALL and metric in s.metrics),
                  key=lambda s: s.metrics[metric])
    significant = {d.slice: d.value for d in callouts.vs_overall(evaluation, metric) if d.significant}
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(rows) + 1.4))
    overall = evaluation.overall.get(metric)
    band = evaluation.slices[0].intervals.get(metric) if overall is not None else None
    if overall is not None:
        if band:
            ax.axvspan(band[0], band[1], color=RED, alpha=.12, lw=0)
        ax.axvline(overall, color=RED, lw=1, label=f"overall {overall:.4f}" + (
            f" (95% CI {band[0]:.4f} to {band[1]:.4f})" if band else ""))
    for y, s in enumerate(rows):
        v = s.metrics[metric]
        lo, hi = s.intervals.get(metric, (v, v))
        small = callouts.is_small(s, total)
        color = GREY if small else GREEN if significant.get(s.slice, 0) > 0 else \
            RED if significant.get(s.slice, 0) < 0 else BLUE
        ax.errorbar(v, y, xerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]], fmt="o", ms=4, capsize=2,
                    color=color, mfc="white" if small else color, lw=1)
    labels = [f"{s.slice}  (n={s.example_count:,.0f}{', small' if callouts.is_small(s, total) else ''})"
              for s in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    for tick, s in zip(ax.get_yticklabels(), rows):
        if callouts.is_small(s, total):
            tick.set_color(GREY)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    # Zoom to the slices that are judged: a small slice's interval can span anything (and one of 13
    # examples may read AUC 0.0); where it runs off the plot it is clipped.
    judged = [s.intervals.get(metric, (s.metrics[metric],) * 2) for s in rows
              if not callouts.is_small(s, total)] + ([band] if overall is not None and band else [])
    if judged:
        lo, hi = min(iv[0] for iv in judged), max(iv[1] for iv in judged)
        pad = 0.1 * (hi - lo) or 0.01
        ax.set_xlim(lo - pad, hi + pad)
    ax.set(xlabel=metric + " (95% interval)", title=f"{metric} per slice, sorted; grey hollow: small "
           "slice; green/red: interval wholly above/below overall")
    ax.title.set_fontsize(9)
    if overall is not None:
        ax.legend(loc="lower right", fontsize=7)
    return png(fig, f"{metric} per slice")


def _recalls(metrics: dict) -> list[tuple[int, float]]:
    return sorted((int(k.split("@", 1)[1]), float(v)) for k, v in metrics.items()
                  if k.startswith("recall@") and k.split("@", 1)[1].isdigit()
                  and isinstance(v, (int, float)))


def recall_curves_png(retrieval: dict) -> str | None:
    """Recall@K of the two towers and of the popularity baseline, overall and per slice (the
    RetrievalEvaluator's ``retrieval_metrics.json``); None when it holds no recall@K."""
    fig = recall_curves_figure(retrieval)
    return png(fig, "retrieval recall at K") if fig is not None else None


def recall_curves_figure(retrieval: dict):
    """One panel per slice: a line over K per system, or, where a panel has a single K (an
    older ``retrieval_metrics.json``), side-by-side bars, since a lone dot reads as no curve."""
    model = {OVERALL: retrieval.get("overall", {}), **retrieval.get("slices", {})}
    baseline = retrieval.get("baseline", {})
    popularity = {OVERALL: baseline.get("overall", {}), **baseline.get("slices", {})}
    panels = [name for name, m in model.items() if isinstance(m, dict) and _recalls(m)]
    if not panels:
        return None
    plt = _pyplot()
    cols = min(4, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.4 * nrows), squeeze=False,
                             sharey=True)
    for ax, name in zip(axes.flat, panels):
        systems = [(label, _recalls(source.get(name) or {}), color) for label, source, color in
                   (("two towers", model, BLUE), ("popularity", popularity, GREY))]
        ks = sorted({k for _, pts, _ in systems for k, _ in pts})
        for i, (label, pts, color) in enumerate(systems):
            if not pts:
                continue
            if len(ks) == 1:
                ax.bar(i, pts[0][1], color=color, label=label, width=.6)
            else:
                ax.plot([k for k, _ in pts], [r for _, r in pts], "o-", color=color, label=label, ms=3)
        if len(ks) == 1:
            ax.set_xticks(range(len(systems)), [label for label, _, _ in systems], fontsize=7)
            ax.set_xlabel(f"K = {ks[0]}", fontsize=7)
        else:
            ax.set_xlabel("K", fontsize=7)
        n = (model[name] or {}).get("count")
        ax.set_title(f"{name}" + (f" (n={n:,})" if isinstance(n, int) else ""), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes[0][0].set_ylabel("Recall@K", fontsize=8)
    axes[0][0].legend(fontsize=7)
    return fig


def history_png(history: list, metric: str) -> str | None:
    """``metric`` of each blessed model over its runs, with its interval when there is one."""
    points = [h for h in history if metric in h.metrics]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    for i, h in enumerate(points):
        v = h.metrics[metric]
        lo, hi = h.intervals.get(metric, (v, v))
        ax.errorbar(i, v, yerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]], fmt="o", color=BLUE,
                    capsize=2, ms=4)
    ax.plot(range(len(points)), [h.metrics[metric] for h in points], color=BLUE, lw=1, alpha=.5)
    ax.set_xticks(range(len(points)), [h.label for h in points], rotation=30, ha="right", fontsize=7)
    ax.set(ylabel=metric, title=f"{metric} of the blessed models, oldest first")
    ax.title.set_fontsize(9)
    return png(fig, f"{metric} history")
