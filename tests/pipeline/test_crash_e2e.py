"""SIGKILL during Transform, training and the push, and a second run on a busy pipeline root:
the same command re-run completes, reuses (TFX's cache, read back from MLMD) what was complete,
and the serving directory only ever holds complete versions; the second run is refused.

Marked ``e2e``: six pipeline runs on tiny synthetic data (three killed) and a seventh, refused
beside the re-run after the Transform kill.
``benchmarks/crashes.py`` runs this file and records the outcomes (``RECSYS_CRASH_RESULTS``).
"""

import json
import os

import pytest

from tests.pipeline import kill_runs

pytestmark = pytest.mark.e2e

RESULTS_ENV = "RECSYS_CRASH_RESULTS"  # where to write the outcomes (benchmarks/crashes.py)
UPSTREAM = {"ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    results = kill_runs.scenarios(str(tmp_path_factory.mktemp("crashes")))
    if os.environ.get(RESULTS_ENV):
        with open(os.environ[RESULTS_ENV], "w") as fh:
            json.dump(results, fh, indent=2)
    return results


def _killed_inside_and_rerun_once(outcome, node):
    assert outcome["state_after_kill"] == "FAILED (interrupted)", outcome  # the kill hit `node`
    assert outcome["rerun_completed"] and outcome["rerun_exit_code"] == 0, outcome
    # MLMD, newest first: the re-run's execution, then the killed one, left unfinished.
    newest, killed = outcome["killed_component_executions"][:2]
    assert newest == "COMPLETE" and killed in ("NEW", "RUNNING"), outcome
    assert outcome["sqlite_integrity"] == "ok"
    for serving in (outcome["serving_after_kill"], outcome["serving_after_rerun"]):
        assert serving["incomplete_versions"] == [], outcome
    assert outcome["serving_after_rerun"]["staging_leftovers"] == []
    assert outcome["serving_after_rerun"]["complete_versions"] == outcome["pushed_versions_after_rerun"]


def test_killed_in_transform_reruns_it_and_reuses_the_data_stages(outcomes):
    outcome = outcomes["transform"]
    _killed_inside_and_rerun_once(outcome, "Transform")
    assert outcome["serving_after_kill"]["complete_versions"] == []
    assert UPSTREAM <= set(outcome["cached"]), outcome
    assert {"Transform", "Trainer", "Evaluator", "Pusher"} <= set(outcome["re_executed"]), outcome
    assert len(outcome["serving_after_rerun"]["complete_versions"]) == 1


def test_killed_in_training_reuses_the_transform_and_trains_again(outcomes):
    outcome, before = outcomes["trainer"], outcomes["transform"]["serving_after_rerun"]
    _killed_inside_and_rerun_once(outcome, "Trainer")
    assert outcome["serving_after_kill"]["complete_versions"] == before["complete_versions"]
    assert UPSTREAM | {"Transform"} <= set(outcome["cached"]), outcome
    assert {"Trainer", "Evaluator", "Pusher"} <= set(outcome["re_executed"]), outcome
    assert len(outcome["serving_after_rerun"]["complete_versions"]) == 2  # the new model, pushed


def test_killed_in_the_push_reuses_the_model_and_publishes_it_whole(outcomes):
    outcome, before = outcomes["pusher"], outcomes["trainer"]["serving_after_rerun"]
    _killed_inside_and_rerun_once(outcome, "Pusher")
    # Killed before its rename, the push published nothing; a staging dir may be left, never a
    # numbered one, and the next push removes it.
    assert outcome["serving_after_kill"]["complete_versions"] == before["complete_versions"]
    assert all(n.startswith(".partial-") for n in outcome["serving_after_kill"]["staging_leftovers"])
    assert UPSTREAM | {"Transform", "Trainer"} <= set(outcome["cached"]), outcome
    assert "Pusher" in outcome["re_executed"], outcome
    assert len(outcome["serving_after_rerun"]["complete_versions"]) == 3


def test_a_second_run_on_a_busy_root_is_refused_and_the_first_completes(outcomes):
    outcome = outcomes["concurrent_run"]
    assert outcome["first_still_running_when_second_refused"], outcome
    assert outcome["second_exit_code"] == 3, outcome
    message = outcome["second_message"]
    assert message.startswith("error: pipeline root ") and "is in use by another run" in message
    assert f"(pid {outcome['first_pid']}, started 20" in message, message
    assert outcome["first_completed"] and outcome["first_exit_code"] == 0, outcome
    assert outcome["sqlite_integrity"] == "ok" and outcome["unfinished_executions"] == 0
    assert outcome["partial_versions_seen"] == 0 and outcome["serving"]["staging_leftovers"] == []
