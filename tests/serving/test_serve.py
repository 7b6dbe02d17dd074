"""``recsys serve`` serves what the deployment records say, and follows a new record without a
restart: a ranker-only change (the retriever's push reused) is served after its run."""

import os

import pytest

from recsys.serving.deployment import record_deployment
from recsys.serving.model_manager import ModelManager
from recsys.serving.serve import config_source, directory_specs
from tests.serving.fixtures import push


def _deploy(root, ranker, retriever):
    return record_deployment(root, run_id=f"run-{ranker}", models={
        "ranker": (ranker, os.path.join(root, "ranker")),
        "retriever": (retriever, os.path.join(root, "retriever"))})


def _two_ranker_versions_first_deployed(root):
    """Rankers 100 and 200 (different weights) and retriever 100 pushed; only (100, 100) deployed."""
    push(os.path.join(root, "ranker"), 100)
    push(os.path.join(root, "ranker"), 200, scale=2.0)
    push(os.path.join(root, "retriever"), 100)
    _deploy(root, 100, 100)


def test_a_ranker_only_change_is_served_after_its_run(tmp_path):
    root = str(tmp_path)
    push(os.path.join(root, "ranker"), 100)
    push(os.path.join(root, "retriever"), 100)
    _deploy(root, 100, 100)
    manager = ModelManager(config_source(root), poll_seconds=3600, warmup=False)
    manager.poll()
    assert (manager.get("ranker").version, manager.get("retriever").version) == (100, 100)
    assert manager.get("ranker", label="stable").version == 100

    # The next run changes only the ranker: a new ranker version, the retriever's push reused.
    push(os.path.join(root, "ranker"), 200, scale=2.0)
    push(os.path.join(root, "retriever"), 150)  # pushed by some run, but not deployed: not served
    os.utime(os.path.join(root, "deployments"), ns=(1, 1))  # the cache key must still change
    _deploy(root, 200, 100)
    manager.poll()
    assert manager.get("ranker", label="stable").version == 200
    assert sorted(manager.state("ranker").available) == [200]  # pinned: the old one unloaded
    assert manager.get("retriever", label="stable").version == 100
    assert sorted(manager.state("retriever").available) == [100]


def test_canary_serves_the_previous_deployment_as_stable(tmp_path):
    root = str(tmp_path)
    _two_ranker_versions_first_deployed(root)
    _deploy(root, 200, 100)
    manager = ModelManager(config_source(root, canary=True), warmup=False)
    manager.poll()
    assert manager.get("ranker", label="stable").version == 100
    assert manager.get("ranker", label="canary").version == 200
    assert manager.get("retriever", label="canary").version == 100


def test_without_records_every_model_directory_is_served_latest(tmp_path):
    root = str(tmp_path)
    push(os.path.join(root, "ranker"), 1)
    push(os.path.join(root, "ranker"), 2)
    os.makedirs(os.path.join(root, "not_a_model"))
    assert [s.name for s in directory_specs(root)] == ["ranker"]
    manager = ModelManager(config_source(root), warmup=False)
    manager.poll()
    assert manager.get("ranker").version == 2


def test_a_given_models_config_is_served_and_reread(tmp_path):
    root = str(tmp_path)
    push(os.path.join(root, "m"), 1)
    push(os.path.join(root, "m"), 2)
    path = tmp_path / "models.config"
    entry = ('model_config_list { config { name: "m" base_path: "%s/m" model_version_policy '
             '{ specific { versions: %d } } } }')
    path.write_text(entry % (root, 1))
    manager = ModelManager(config_source(root, str(path)), warmup=False)
    manager.poll()
    assert manager.get("m").version == 1
    path.write_text(entry % (root, 2))
    manager.poll()
    assert manager.get("m").version == 2
    path.write_text("model_config_list { broken")  # a bad edit keeps the running config
    manager.poll()
    assert manager.get("m").version == 2
    with pytest.raises(Exception, match="Specific"):
        manager.get("m", version=1)


def test_rolling_back_is_removing_the_newest_record(tmp_path):
    root = str(tmp_path)
    _two_ranker_versions_first_deployed(root)
    manager = ModelManager(config_source(root), warmup=False)
    manager.poll()
    os.utime(os.path.join(root, "deployments"), ns=(1, 1))
    _deploy(root, 200, 100)
    manager.poll()
    assert manager.get("ranker", label="stable").version == 200
    os.remove(os.path.join(root, "deployments", "200.json"))  # the rollback
    manager.poll()
    assert manager.get("ranker", label="stable").version == 100
    assert sorted(manager.state("ranker").available) == [100]


def test_the_recommend_child_process_dies_with_the_server():
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        "from recsys.serving.serve import _die_with_parent\n"
        "child = subprocess.Popen(['sleep', '60'], preexec_fn=_die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no finally, no atexit in the parent
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists(f"/proc/{child}") and \
            open(f"/proc/{child}/stat").read().split()[2] != "Z":
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z"
