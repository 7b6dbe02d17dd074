"""Killing ``recsys run`` at a chosen component, re-running it, and reading what happened: the
crash scenarios of ``test_crash_e2e.py`` (which ``benchmarks/crashes.py`` records).

Every run is the real command line (``python -m recsys.cli run``) on the tiny synthetic data of
the pipeline e2e tests, in its own process group, killed with SIGKILL (what the OOM killer or a
lost machine does) once the component is running: its output directory for the new execution
exists (the launcher makes it after registering the execution in MLMD), plus a few seconds inside
its work. MLMD then says whether the kill landed inside that component
(``recsys summary``: ``FAILED (interrupted)``), and after the re-run of the same command which
components were cached and which executed again. All scenarios share one pipeline root, each
with its own training seed, so that its Trainer and Pusher have new work while Transform, once
complete, is reused.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from recsys.config import REPO_ROOT, load_config
from tests.e2e_runs import IN_PROCESS_BEAM

# The tiny data of the pipeline e2e tests; one epoch; the quality gates are not what is tried here
# (a model that is not blessed is not pushed, and the push is one of the crash points). Beam in
# the runner's process (tests/e2e_runs.py): the kill ends the run all the same.
SMALL = ["data.num_events=20000", "data.num_users=500", "data.num_items=300", "train.epochs=1",
         "retrieval.enabled=false", "eval.auc_lower_bound=0", "eval.max_auc_drop=1",
         *IN_PROCESS_BEAM]
# Crash point -> (node, seconds to wait inside its work after its execution appeared, seed).
CRASH_POINTS = {"transform": ("Transform", 5.0, 1), "trainer": ("Trainer", 5.0, 2),
                "pusher": ("Pusher", 0.0, 3)}
# The second run on a busy root is started beside this crash point's re-run: the longest re-run
# (Transform, Trainer, Evaluator, Pusher), so the first surely still holds the root when the second
# is refused, and the refusal needs no pipeline run of its own (it was a whole run's training,
# evaluation and push).
BESIDE = "transform"


def settings(out: str, seed: int) -> list[str]:
    return [f"pipeline.output_dir={out}", *SMALL, f"train.seed={seed}"]


def run_args(sets: list[str]) -> list[str]:
    return ["run", *(a for s in sets for a in ("--set", s))]


def shown(sets: list[str]) -> str:
    """The command as a user types it."""
    return " ".join(["recsys", *run_args(sets)])


def start(sets: list[str], log_dir: str, name: str) -> subprocess.Popen:
    """``recsys run`` in its own process group (so the kill takes its Beam workers too)."""
    os.makedirs(log_dir, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    return subprocess.Popen([sys.executable, "-m", "recsys.cli", *run_args(sets)], cwd=REPO_ROOT,
                            env=env, start_new_session=True,
                            stdout=open(os.path.join(log_dir, f"{name}.out"), "w"),
                            stderr=open(os.path.join(log_dir, f"{name}.err"), "w"))


def finish(proc: subprocess.Popen, log_dir: str, name: str, timeout: float = 1800) -> dict:
    """Exit code, terminal lines and (when it completed) the JSON report of a run."""
    code = proc.wait(timeout=timeout)
    with open(os.path.join(log_dir, f"{name}.out")) as fh:
        out = fh.read()
    with open(os.path.join(log_dir, f"{name}.err")) as fh:
        err = fh.read()
    return {"exit_code": code, "stderr": err, "report": json.loads(out) if out.strip() else None}


def completed(result: dict) -> bool:
    """The run got to its report and every component in it completed or was reused."""
    states = (result["report"] or {}).get("components")
    return bool(states) and all(s in ("COMPLETE", "CACHED") for s in states.values())


def execution_dirs(pipeline_root: str, node: str) -> set[str]:
    """<node>/<output key>/<execution id> directories: one set per execution the node started."""
    base, found = os.path.join(pipeline_root, node), set()
    try:
        keys = [k for k in os.listdir(base) if not k.startswith(".")]  # .system: TFX's own
        for key in keys:
            if os.path.isdir(os.path.join(base, key)):
                found.update(os.path.join(key, e) for e in os.listdir(os.path.join(base, key)))
    except FileNotFoundError:  # not started yet (or a directory appearing as we look)
        pass
    return found


def kill_when_running(proc: subprocess.Popen, pipeline_root: str, node: str, inside: float,
                      timeout: float = 1200) -> float:
    """SIGKILLs ``proc``'s group ``inside`` seconds after ``node`` started a new execution.
    Returns the seconds from start to kill."""
    before, t0 = execution_dirs(pipeline_root, node), time.time()
    while not execution_dirs(pipeline_root, node) - before:
        if proc.poll() is not None or time.time() - t0 > timeout:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"the run ended (exit {proc.poll()}) or timed out before {node} ran")
        time.sleep(0.005)  # the Pusher's whole execution takes about 0.3 s
    time.sleep(inside)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return round(time.time() - t0, 1)


def serving_state(serving_dir: str) -> dict:
    """Complete versions, numbered directories that are not complete versions (must never exist:
    TF Serving would try to load them), and staging leftovers of killed pushes."""
    from recsys.serving.versions import complete_versions

    names = os.listdir(serving_dir) if os.path.isdir(serving_dir) else []
    complete = complete_versions(serving_dir)
    return {"complete_versions": [str(v) for v in complete],
            "incomplete_versions": sorted(n for n in names if n.isdigit() and int(n) not in complete),
            "staging_leftovers": sorted(n for n in names if not n.isdigit())}


def mlmd_state(metadata_path: str) -> dict:
    """SQLite's own integrity check of the MLMD file, and each node's executions (newest first)."""
    from ml_metadata.proto import metadata_store_pb2

    from recsys.evaluation.metadata import executions_by_node, open_store

    db = sqlite3.connect(f"file:{metadata_path}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    by_node = executions_by_node(open_store(metadata_path))
    return {"sqlite_integrity": integrity,
            "executions": {n: [names[e.last_known_state] for e in runs] for n, runs in by_node.items()}}


def crash_and_rerun(out: str, point: str, beside: dict | None = None) -> dict:
    """Kill a run during ``point``'s component, re-run the same command, say what happened.
    ``beside``: filled with ``refused_beside``'s outcome for a second run started during the re-run."""
    from recsys.pipeline.local_runner import RunPaths, summarize

    node, inside, seed = CRASH_POINTS[point]
    sets = settings(out, seed)
    paths = RunPaths.from_config(load_config(None, sets))
    logs = os.path.join(out, "crash-logs")
    killed = start(sets, logs, f"{point}-killed")
    seconds = kill_when_running(killed, paths.pipeline_root, node, inside)
    after_kill = summarize(paths)
    serving_after_kill = serving_state(paths.serving_dir)
    proc = start(sets, logs, f"{point}-rerun")
    second = refused_beside(proc, sets, paths, logs) if beside is not None else None
    rerun = finish(proc, logs, f"{point}-rerun")
    components = (rerun["report"] or {}).get("components", {})
    mlmd = mlmd_state(paths.metadata_path)
    serving = serving_state(paths.serving_dir)
    if second is not None:
        beside.update(concurrent_outcome(sets, proc, second, rerun, mlmd, serving))
    return {
        "command": shown(sets) + "  (killed, then again)",
        "killed_after_seconds": seconds, "killed_component": node,
        "state_after_kill": after_kill["components"].get(node),
        "rerun_exit_code": rerun["exit_code"],
        "rerun_completed": completed(rerun),
        "cached": sorted(n for n, s in components.items() if s == "CACHED"),
        "re_executed": sorted(n for n, s in components.items() if s == "COMPLETE"),
        "killed_component_executions": mlmd["executions"].get(node, []),
        "sqlite_integrity": mlmd["sqlite_integrity"],
        "serving_after_kill": serving_after_kill, "serving_after_rerun": serving,
        "partial_versions_seen": len(serving_after_kill["incomplete_versions"])
        + len(serving["incomplete_versions"]),
        "pushed_versions_after_rerun": (rerun["report"] or {}).get("pushed_versions"),
    }


def refused_beside(first: subprocess.Popen, sets: list[str], paths, logs: str) -> dict:
    """The same command started while ``first`` holds the root: refused at once, ``first`` going on."""
    from recsys.pipeline import run_lock

    t0 = time.time()
    while (run_lock.holder(paths.pipeline_root) or (None,))[0] != first.pid:
        if first.poll() is not None or time.time() - t0 > 600:
            raise RuntimeError(f"the first run ended (exit {first.poll()}) before it held the lock")
        time.sleep(0.05)
    t1 = time.time()
    second = finish(start(sets, logs, "concurrent-second"), logs, "concurrent-second")
    return {"second": second, "refused_in": round(time.time() - t1, 1),
            "first_alive_at_refusal": first.poll() is None}


def concurrent_outcome(sets: list[str], first: subprocess.Popen, beside: dict, first_done: dict,
                       mlmd: dict, serving: dict) -> dict:
    """What the second run got and how the first (the run it was refused beside) ended."""
    second = beside["second"]
    return {
        "command": shown(sets) + "  (the re-run, and the same command again while it runs)",
        "first_pid": first.pid,
        "second_exit_code": second["exit_code"],
        "second_message": second["stderr"].strip().splitlines()[-1] if second["stderr"].strip() else "",
        "second_refused_after_seconds": beside["refused_in"],
        "first_still_running_when_second_refused": beside["first_alive_at_refusal"],
        "first_exit_code": first_done["exit_code"],
        "first_completed": completed(first_done),
        "sqlite_integrity": mlmd["sqlite_integrity"],
        "unfinished_executions": sum(s in ("NEW", "RUNNING") for runs in mlmd["executions"].values()
                                     for s in runs[:1]),
        "serving": serving, "partial_versions_seen": len(serving["incomplete_versions"]),
    }


def scenarios(out: str) -> dict:
    """Every crash point, in order, on one pipeline root under ``out``."""
    results, concurrent = {}, {}
    for point in CRASH_POINTS:
        results[point] = crash_and_rerun(out, point, concurrent if point == BESIDE else None)
        print(point, results[point], flush=True)
    results["concurrent_run"] = concurrent
    print("concurrent_run", concurrent, flush=True)
    return results

