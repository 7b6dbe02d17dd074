"""Crash points of ``recsys run`` and their outcomes, recorded under ``"crashes"`` in
``benchmarks/results/reliability.json``.

  .venv/bin/python -m benchmarks.crashes        # about 25 minutes on 2 cores

Runs ``tests/pipeline/test_crash_e2e.py`` (SIGKILL during Transform, training and the push, each
followed by the same command again, and a second run started on a busy pipeline root; see
``tests/pipeline/kill_runs.py``) and records, per crash point, what the kill hit, what the re-run
reused (cached) and executed again according to MLMD, SQLite's integrity check of the MLMD file,
and the partial versions seen in the serving directory (numbered directories that are not
complete versions; must be 0), with whether the tests' assertions held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.machine import record, stamp
from recsys.config import REPO_ROOT

RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results", "reliability.json")
TEST = "tests/pipeline/test_crash_e2e.py"


def main() -> int:
    from tests.pipeline.test_crash_e2e import RESULTS_ENV

    t = time.time()
    tmp = tempfile.mkdtemp(prefix="recsys-crashes-")  # kept: the runs' logs are under it
    outcomes = os.path.join(tmp, "outcomes.json")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
                           f"--basetemp={os.path.join(tmp, 'runs')}"],
                          cwd=REPO_ROOT, env={**os.environ, RESULTS_ENV: outcomes},
                          capture_output=True, text=True)
    print(proc.stdout[-3000:], proc.stderr[-2000:], f"runs and logs: {tmp}", sep="\n", flush=True)
    if not os.path.exists(outcomes):
        raise SystemExit(f"the crash scenarios did not finish (pytest exit {proc.returncode})")
    with open(outcomes) as fh:
        results = json.load(fh)
    results["tests_passed"] = proc.returncode == 0
    results["tests_summary"] = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    results["partial_versions_seen"] = sum(r["partial_versions_seen"] for r in results.values()
                                           if isinstance(r, dict))
    results["minutes"] = round((time.time() - t) / 60, 1)
    results.update(stamp())
    record(RESULTS, {"crashes": results})  # merges: the file's other keys are kept
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
