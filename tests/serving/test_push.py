"""A push publishes a version whole (staging dir + manifest + rename), never twice the same model,
and a push killed half-way is never taken for a version."""

import os
import signal
import subprocess
import sys
import time

import pytest

from recsys.serving.manifest import verify_manifest
from recsys.serving.push import (find_identical_version, push_version, remove_partial_pushes,
                                 run_version, tree_digest)
from recsys.serving.versions import complete_versions, is_complete, latest_complete_version

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model(path, weights=b"w1"):
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "saved_model.pb"), "wb") as fh:
        fh.write(b"graph")
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as fh:
        fh.write(weights)
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_push_is_a_verified_version_and_leaves_no_staging_dir(tmp_path):
    candidate = _model(str(tmp_path / "candidate"))
    base = str(tmp_path / "serving" / "ranker")
    path = push_version(candidate, base, "1700000000", run_id="2023-11-14T22:13:20")
    assert path == os.path.join(base, "1700000000")
    assert os.listdir(base) == ["1700000000"]  # nothing else: no .partial-* left behind
    manifest = verify_manifest(path)
    assert manifest["model"] == "ranker" and manifest["version"] == 1700000000
    assert manifest["run_id"] == "2023-11-14T22:13:20"
    assert set(manifest["files"]) == {"saved_model.pb", "variables/variables.data-00000-of-00001"}
    assert complete_versions(base) == [1700000000]
    with pytest.raises(FileExistsError, match="never overwritten"):
        push_version(_model(str(tmp_path / "other"), b"w2"), base, "1700000000", run_id=None)


def test_identical_tree_is_found_ignoring_the_manifest_and_a_changed_weight_is_not(tmp_path):
    candidate = _model(str(tmp_path / "candidate"))
    base = str(tmp_path / "serving" / "ranker")
    push_version(_model(str(tmp_path / "old"), weights=b"other"), base, "100", run_id=None)
    assert find_identical_version(candidate, base) is None
    push_version(candidate, base, "200", run_id=None)  # has a manifest, the candidate has not
    assert find_identical_version(candidate, base) == "200"
    assert tree_digest(candidate) == tree_digest(os.path.join(base, "200"))
    assert find_identical_version(candidate, str(tmp_path / "missing")) is None


def test_a_version_failing_its_manifest_is_never_identical(tmp_path):
    candidate = _model(str(tmp_path / "candidate"))
    base = str(tmp_path / "ranker")
    _model(os.path.join(base, "100"))  # same bytes, but no manifest: not pushed by this Pusher
    assert find_identical_version(candidate, base) is None
    push_version(candidate, base, "200", run_id=None)
    with open(os.path.join(base, "200", "variables", "extra.txt"), "w") as fh:
        fh.write("added after the push")
    assert find_identical_version(candidate, base) is None
    assert complete_versions(base) == []


def test_digest_covers_file_names_not_only_bytes(tmp_path):
    a = _model(str(tmp_path / "a"))
    b = _model(str(tmp_path / "b"))
    assert tree_digest(a) == tree_digest(b)
    os.rename(os.path.join(b, "saved_model.pb"), os.path.join(b, "saved_model.pbtxt"))
    assert tree_digest(a) != tree_digest(b)


def test_leftovers_of_killed_pushes_are_removed_but_a_live_push_is_not(tmp_path):
    base = tmp_path / "ranker"
    dead = _model(str(base / f".partial-100-{_dead_pid()}"))
    live = _model(str(base / f".partial-101-{os.getppid()}"))  # our parent: alive
    assert complete_versions(str(base)) == [] and latest_complete_version(str(base)) is None
    assert remove_partial_pushes(str(base)) == [os.path.basename(dead)]
    assert not os.path.exists(dead) and os.path.exists(live)


def test_a_push_that_fails_cleans_up_its_staging_dir(tmp_path, monkeypatch):
    import recsys.serving.push as pusher

    def disk_full(path, **extra):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pusher, "write_manifest", disk_full)
    base = str(tmp_path / "ranker")
    with pytest.raises(OSError, match="No space"):
        push_version(_model(str(tmp_path / "m")), base, "100", run_id=None)
    assert os.listdir(base) == []


def test_a_push_killed_before_its_rename_is_never_a_version(tmp_path):
    """SIGKILL a real push after its files are staged: no numbered directory appears, readers
    see no version, and the next push removes the leftover and publishes."""
    candidate = _model(str(tmp_path / "candidate"))
    base = str(tmp_path / "ranker")
    staged = str(tmp_path / "staged")
    child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
sys.path.insert(0, {REPO!r})
import recsys.serving.push as p
def stall(path, **extra):  # the copy is done; die before the manifest and the rename
    open({staged!r}, "w").close()
    time.sleep(600)
p.write_manifest = stall
p.push_version({candidate!r}, {base!r}, "1700000000", run_id=None)
"""], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.time() + 120
        while not os.path.exists(staged):
            assert child.poll() is None and time.time() < deadline, "the child push never staged"
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert os.listdir(base) == [f".partial-1700000000-{child.pid}"]
    assert complete_versions(base) == []
    push_version(candidate, base, "1700000001", run_id=None)
    assert os.listdir(base) == ["1700000001"] and complete_versions(base) == [1700000001]


def test_complete_needs_a_number_saved_model_and_a_verifying_manifest(tmp_path):
    base = str(tmp_path / "ranker")
    push_version(_model(str(tmp_path / "m")), base, "100", run_id=None)
    assert is_complete(os.path.join(base, "100"))
    os.makedirs(os.path.join(base, "300"))  # a directory without saved_model.pb
    os.rename(os.path.join(base, "100"), os.path.join(base, "v100"))
    assert complete_versions(base) == []  # not a number: TF Serving would not load it either
    os.rename(os.path.join(base, "v100"), os.path.join(base, "200"))
    assert complete_versions(base) == [200]
    with open(os.path.join(base, "200", "saved_model.pb"), "ab") as fh:
        fh.write(b"!")  # tampered after the push
    assert complete_versions(base) == [] and latest_complete_version(base) is None


def test_run_version_is_the_pipeline_runs_start():
    import datetime

    start = datetime.datetime(2026, 11, 23, 19, 0, 5)
    assert run_version(start.isoformat()) == str(int(start.timestamp()))
    assert run_version(None).isdigit()
