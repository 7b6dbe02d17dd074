"""``recsys report``: the HTML report's numbers, parsed back, are TFMA's numbers; it is offline."""

import base64
import dataclasses
import html.parser
import json
import math
import os

import nbformat
import pytest
import tensorflow_model_analysis as tfma

from recsys.evaluation import eval_result, report
from recsys.cli import main
from tests import tfma_tiny

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Cells(html.parser.HTMLParser):
    """Collects every ``<td data-value>`` by table id and its data attributes."""

    def __init__(self):
        super().__init__()
        self.table = None
        self.cells: list[dict] = []
        self.undefined: list[dict] = []  # "n/a" cells: no value, the reason in data-undefined
        self.why_no_interval: list[dict] = []  # the slice table's "no 95% CI because" cells
        self.verdict = None
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id")
        elif tag == "td" and "data-value" in a:
            self.cells.append({**a, "table": self.table})
        elif tag == "td" and "data-undefined" in a:
            self.undefined.append({**a, "table": self.table})
        elif tag == "td" and "data-interval-errors" in a:
            self.why_no_interval.append({**a, "table": self.table})
        elif tag == "p" and a.get("id") == "verdict":
            self.verdict = a["data-passed"]
        elif tag == "img":
            self.images.append(a["src"])


def _parse(text: str) -> _Cells:
    p = _Cells()
    p.feed(text)
    return p


def _tfma_numbers(output_path: str, model_name: str, bounds: bool = False) -> dict:
    """(slice, metric) -> value straight from TFMA's EvalResult (independent of eval_result.py);
    with ``bounds``, (slice, metric) -> (lower, upper) of the metrics TFMA gave an interval."""
    out = {}
    for slice_key, by_output in tfma.load_eval_result(output_path, model_name=model_name).slicing_metrics:
        name = " & ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key) \
            or "Overall"
        for sub_key, values in by_output[""].items():
            suffix = "@" + sub_key.split(":")[1] if sub_key else ""
            for metric, value in values.items():
                bounded = value.get("boundedValue")
                if bounds and bounded:
                    out[(name, metric + suffix)] = (bounded["lowerBound"], bounded["upperBound"])
                elif not bounds and "doubleValue" in value:
                    out[(name, metric + suffix)] = float(value["doubleValue"])  # "NaN" in JSON
                elif not bounds and bounded:  # TFMA's point estimate beside its interval
                    out[(name, metric + suffix)] = float(bounded["value"])
    return out


@pytest.fixture(scope="module")
def evaluated(tfma_tiny_intervals):
    return tfma_tiny_intervals  # with TFMA's jackknife intervals


def test_report_numbers_equal_the_tfma_result(evaluated, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "--eval-dir", evaluated, "--out", str(out),
                 "--set", f"pipeline.output_dir={tmp_path}"]) == 0
    parsed = _parse(out.read_text())
    cells = parsed.cells
    tfma_values = _tfma_numbers(evaluated, "candidate")
    slice_cells = {(c["data-slice"], c["data-metric"]): float(c["data-value"])
                   for c in cells if c["table"] == "slices"}
    expected = {k: v for k, v in tfma_values.items()
                if not k[1].split("@")[0].endswith("_diff") and not math.isnan(v)}
    assert slice_cells == pytest.approx(expected, rel=1e-12)
    # TFMA's NaNs are "n/a" cells that say why, never a number.
    undefined = {(c["data-slice"], c["data-metric"]) for c in parsed.undefined if c["table"] == "slices"}
    assert undefined == {k for k, v in tfma_values.items()
                         if not k[1].split("@")[0].endswith("_diff") and math.isnan(v)}
    # The slices the feature config asks for, and the per-user metrics, are all there.
    slices = {s for s, _ in slice_cells}
    assert {"Overall", "user_gender=F", "user_gender=M", "user_activity=heavy",
            "user_activity=light"} <= slices
    for metric in ("auc", "auc_precision_recall", "binary_crossentropy", "calibration", "gauc",
                   "ndcg@5", "ndcg@10", "min_label_position", "total_queries", "mean_label"):
        assert ("Overall", metric) in slice_cells, metric

    # Comparison: candidate, baseline and TFMA's own diff.
    baseline = _tfma_numbers(evaluated, "baseline")
    comparison = {(c["data-model"], c["data-metric"]): float(c["data-value"])
                  for c in cells if c["table"] == "comparison"}
    assert comparison[("candidate", "auc")] == tfma_values[("Overall", "auc")]
    assert comparison[("baseline", "auc")] == baseline[("Overall", "auc")]
    assert comparison[("diff", "auc")] == tfma_values[("Overall", "auc_diff")]
    assert comparison[("diff", "gauc")] == pytest.approx(
        tfma_values[("Overall", "gauc")] - baseline[("Overall", "gauc")])


def test_report_intervals_are_tfmas_intervals(evaluated, tmp_path):
    """Every interval the report shows (``data-lower``/``data-upper``) is the one TFMA wrote, for
    the slices, the candidate-vs-baseline diffs and the headline; counts carry none."""
    out = tmp_path / "report.html"
    assert main(["report", "--eval-dir", evaluated, "--out", str(out),
                 "--set", f"pipeline.output_dir={tmp_path}"]) == 0
    cells = _parse(out.read_text()).cells
    tfma_bounds = _tfma_numbers(evaluated, "candidate", bounds=True)
    shown = {(c["data-slice"], c["data-metric"]): (float(c["data-lower"]), float(c["data-upper"]))
             for c in cells if c["table"] == "slices" and "data-lower" in c}
    counts = {"example_count", "gauc_users", "total_queries", "total_documents", "min_documents",
              "max_documents"}
    expected = {k: v for k, v in tfma_bounds.items()
                if not k[1].split("@")[0].endswith("_diff") and k[1] not in counts}
    assert shown.keys() == expected.keys()
    for key, (lo, hi) in expected.items():
        assert shown[key] == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12)), key
    assert ("Overall", "auc") in shown and ("user_gender=F", "gauc") in shown  # real ones
    lo, hi = shown[("Overall", "auc")]
    assert lo < hi and hi - lo < 0.2  # 156 examples: a real, finite interval around the value
    headline = {(c["data-model"], c["data-metric"]): (float(c["data-lower"]), float(c["data-upper"]))
                for c in cells if c["table"] == "headline" and "data-lower" in c}
    assert headline[("candidate", "auc")] == tfma_bounds[("Overall", "auc")]
    assert headline[("diff", "auc")] == tfma_bounds[("Overall", "auc_diff")]
    evaluation = eval_result.load(evaluated)
    assert all(not counts & set(s.intervals) for s in evaluation.slices)


def test_slice_table_says_why_a_slice_has_no_interval(evaluated, tmp_path):
    """The one-example slice (``tfma_tiny.LONE_USER``) gets no interval from either resampling
    pass: its row shows TFMA's text for both, read straight from TFMA's result; the other slices'
    cells stay empty (they have their intervals)."""
    out = tmp_path / "report.html"
    assert main(["report", "--eval-dir", evaluated, "--out", str(out),
                 "--set", f"pipeline.output_dir={tmp_path}"]) == 0
    why = {c["data-slice"]: c["data-interval-errors"] for c in _parse(out.read_text()).why_no_interval
           if c["table"] == "slices"}
    raw = {k: m[""][""] for k, m in tfma.load_eval_result(evaluated, model_name="candidate")
           .slicing_metrics}[(("user_gender", "X"),)]
    text = {k: base64.b64decode(raw[k]["bytesValue"]).decode() for k in ("__ERROR__",
                                                                           "__ERROR__per_user")}
    assert why["user_gender=X"] == (f"example-level: {text['__ERROR__']}; "
                                    f"per user: {text['__ERROR__per_user']}")
    assert "19 samples were non-empty" in why["user_gender=X"]
    assert why["Overall"] == "" and why["user_gender=F"] == ""
    assert len(why) == len(eval_result.load(evaluated).slices)  # a cell in every row


def test_slice_table_has_no_reason_column_when_every_slice_has_intervals(evaluated):
    evaluation = eval_result.load(evaluated)
    whole = dataclasses.replace(evaluation, slices=[s for s in evaluation.slices
                                                    if not s.interval_errors])
    assert "no 95% CI because" in report.render_html(evaluation)
    assert "no 95% CI because" not in report.render_html(whole)


def test_report_is_self_contained_with_verdict_and_calibration_plot(evaluated, tmp_path):
    evaluation = eval_result.load(evaluated)
    text = report.render_html(evaluation)
    parsed = _parse(text)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert len(parsed.images) == 2 and all(s.startswith("data:image/png;base64,") for s in parsed.images)
    # A reader meets the verdict, then the headline figures, then plots; the full tables last, folded.
    order = [text.index(x) for x in ('id="verdict"', 'id="headline"', "<img", "<details")]
    assert order == sorted(order)
    assert text.index('id="slices"') > text.index("<details")
    assert parsed.verdict == "true"  # the candidate clears AUC >= 0.6 and beats the baseline
    assert sum(b.examples for b in evaluation.calibration) == evaluation.overall["example_count"]
    assert "No retrieval model evaluated" in text


def test_failed_gate_lists_the_failing_threshold(tmp_path):
    failing = tfma_tiny.evaluate(str(tmp_path), gate=dataclasses.replace(tfma_tiny.NO_INTERVALS,
                                                                         auc_lower_bound=0.99))
    evaluation = eval_result.load(failing)
    assert evaluation.verdict.passed is False
    [failure] = evaluation.verdict.failures  # overall slice only: per-slice AUCs are not gated
    assert failure.startswith("Overall: auc = ") and ">= 0.99" in failure
    assert _parse(report.render_html(evaluation)).verdict == "false"
    table = report.terminal_table(evaluation)
    assert table.splitlines()[0].split()[:3] == ["slice", "example_count", "auc"]
    assert f"{evaluation.overall['auc']:.4f}" in table.splitlines()[2]


def test_retrieval_section_renders_any_metric_names(evaluated, tmp_path):
    # The shape the RetrievalEvaluator writes; the renderer knows none of these names.
    retrieval = {"overall": {"count": 596, "recall@10": 0.25, "mrr": 0.06},
                 "slices": {"user_activity:new": {"count": 557, "recall@10": 0.3}},
                 "baseline": {"overall": {"recall@10": 0.15}, "slices": {"item_popularity:head":
                                                                        {"recall@10": 0.2}}},
                 "blessed": True, "failures": ["recall@100 lift over popularity = 0.0033 < 0.01"]}
    path = tmp_path / "retrieval_metrics.json"
    path.write_text(json.dumps(retrieval))
    out = tmp_path / "r.html"
    assert main(["report", "--eval-dir", evaluated, "--retrieval", str(path), "--out", str(out),
                 "--set", f"pipeline.output_dir={tmp_path}"]) == 0
    text = out.read_text()
    cells = {(c["table"], c["data-slice"], c["data-metric"]): float(c["data-value"])
             for c in _parse(text).cells if c["table"].startswith("retrieval")}
    assert cells == {("retrieval-overall", "overall", "count"): 596,
                     ("retrieval-overall", "overall", "recall@10"): 0.25,
                     ("retrieval-overall", "overall", "mrr"): 0.06,
                     ("retrieval-slices", "user_activity:new", "count"): 557,
                     ("retrieval-slices", "user_activity:new", "recall@10"): 0.3,
                     ("retrieval-baseline-overall", "overall", "recall@10"): 0.15,
                     ("retrieval-baseline-slices", "item_popularity:head", "recall@10"): 0.2}
    assert "lift over popularity = 0.0033 &lt; 0.01" in text and "<b>blessed</b>: True" in text
    path.write_text(json.dumps({"recall": 1}))
    with pytest.raises(ValueError, match="'overall'"):
        eval_result.load_retrieval(str(path))


def test_report_without_an_evaluation_says_where_it_looked(tmp_path, capsys):
    assert main(["report", "--set", f"pipeline.output_dir={tmp_path}"]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert main(["report", "--eval-dir", str(tmp_path)]) == 2
    assert "no TFMA metrics files" in capsys.readouterr().err


def test_notebook_opens_the_same_result_in_tfmas_viewer():
    nb = nbformat.read(os.path.join(REPO, "notebooks", "evaluation.ipynb"), as_version=4)
    nbformat.validate(nb)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "eval_result.latest_evaluation_uri" in source and hasattr(eval_result, "latest_evaluation_uri")
    assert "tfma.view.render_slicing_metrics" in source and "tfma.view.render_plot" in source
    compile(source, "evaluation.ipynb", "exec")  # at least valid Python
