"""The scale benchmark's own logic on tiny inputs: the per-stage RSS window, the results merge
that keeps other helpers' keys, the statistics part, and the index part (blocked top-K must equal
the whole matrix)."""

import json

from benchmarks import scale


def test_stage_peak_is_taken_inside_the_stage_window_only():
    sampler = scale.RssSampler()
    mb = 2**20
    sampler.samples = [(1.0, 900 * mb), (2.0, 300 * mb), (3.0, 200 * mb), (4.0, 800 * mb)]
    assert sampler.peak_mb(1.5, 3.5) == 300.0  # the 900 before and the 800 after are other stages
    assert sampler.peak_mb(5.0, 6.0) is None


def test_stage_cpu_counts_from_the_last_sample_before_the_stage():
    sampler = scale.RssSampler()
    # Cumulative CPU s of the process tree: 10 s before the stage, 25 s at its end, 40 s later.
    sampler.cpu = [(1.0, 10.0), (2.0, 12.0), (3.0, 25.0), (4.0, 40.0)]
    assert sampler.cpu_seconds(1.5, 3.5) == 15.0  # 25 - 10: what the stage added, nothing after
    assert sampler.cpu_seconds(0.5, 1.5) == 0.0  # no sample before: from its first sample
    assert sampler.cpu_seconds(5.0, 6.0) is None


def test_this_process_trees_cpu_grows_with_work():
    sampler = scale.RssSampler()
    before = sampler._cpu()  # noqa: SLF001
    sum(i * i for i in range(2_000_000))
    assert sampler._cpu() > before  # noqa: SLF001


def test_results_merge_keeps_other_keys_and_other_data_sets(tmp_path, monkeypatch):
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"multi_worker": {"x": 1},
                                "pipeline_components": {"ml-100k": {"wall_seconds": 1}}}))
    monkeypatch.setattr(scale, "RESULTS", str(path))
    scale._merge({"pipeline_components": {"synthetic-default": {"wall_seconds": 2}},
                  "index": {"k": 100}})
    got = json.loads(path.read_text())
    assert got["multi_worker"] == {"x": 1} and got["index"] == {"k": 100}
    assert got["pipeline_components"] == {"ml-100k": {"wall_seconds": 1},
                                          "synthetic-default": {"wall_seconds": 2}}


def test_index_part_measures_whole_and_blocked_search_with_the_same_top_k():
    # In this process (the benchmark runs each configuration in a fresh one, for its memory).
    whole, rows = scale._index_one(500, 0, dim=8, batch=4, k=10, repeats=2)
    blocked, blocked_rows = scale._index_one(500, 64, dim=8, batch=4, k=10, repeats=2)
    assert blocked_rows == rows and len(rows) == 4 and len(set(rows[0])) == 10
    assert blocked["score_buffer_mb"] < whole["score_buffer_mb"]
    assert whole["rss_serving_peak_mb"] >= whole["rss_catalogue_loaded_mb"] > 0
    assert scale.scann_recall(None, None, None, 10, python="") == {
        "skipped": "no --scann-python given (ScaNN needs numpy 2: its own virtualenv)"}


def test_statistics_sizes_merge_like_the_stages_sizes(tmp_path, monkeypatch):
    path = tmp_path / "scale.json"
    path.write_text(json.dumps({"statistics": {"by_events": {"100000": {"sketch": 1}}, "date": "old"}}))
    monkeypatch.setattr(scale, "RESULTS", str(path))
    scale._merge({"statistics": {"by_events": {"1000000": {"sketch": 2}}, "date": "new"}})
    got = json.loads(path.read_text())["statistics"]
    assert got["by_events"] == {"100000": {"sketch": 1}, "1000000": {"sketch": 2}}
    assert got["date"] == "new"


def test_one_statistics_run_reports_its_peak_and_time(tmp_path):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(tmp_path / "data.tfrecord")) as w:
        for i in range(50):
            e = tf.train.Example()
            e.features.feature["item_id"].bytes_list.value.append(f"i{i % 7}".encode())
            w.write(e.SerializeToString())
    got = scale._statistics_one(str(tmp_path / "*.tfrecord"), "sketch", [])
    assert got["seconds"] > 0 and got["peak_rss_mb"] > 0
