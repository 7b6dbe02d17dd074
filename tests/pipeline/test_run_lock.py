"""One run per pipeline root: a second is refused naming the root and the live run (pid, start),
another root is not blocked, and a SIGKILLed run never leaves a lock that blocks."""

import datetime
import os
import signal
import subprocess
import sys

import pytest

from recsys.pipeline import run_lock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _holding_child(root: str) -> subprocess.Popen:
    """Another process holding ``root``'s lock (it says when, then sleeps)."""
    child = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
sys.path.insert(0, {REPO!r})
from recsys.pipeline import run_lock
with run_lock.hold({root!r}):
    print("held", flush=True)
    time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_second_run_is_refused_naming_root_pid_and_start_and_others_are_not_blocked(tmp_path):
    root, other = str(tmp_path / "pipeline" / "a"), str(tmp_path / "pipeline" / "b")
    child = _holding_child(root)
    try:
        pid, started = run_lock.holder(root)
        assert pid == child.pid
        with pytest.raises(run_lock.PipelineRootBusy) as refused:
            with run_lock.hold(root):
                pytest.fail("two runs held one root")
        when = datetime.datetime.fromtimestamp(started, datetime.timezone.utc)
        assert str(refused.value).startswith(
            f"pipeline root {root} is in use by another run (pid {child.pid}, "
            f"started {when:%Y-%m-%dT%H:%M:%SZ})")
        with run_lock.hold(other):  # a different root: not blocked
            assert run_lock.holder(other)[0] == os.getpid()
        assert run_lock.holder(root)[0] == child.pid  # the refusal did not steal the lock
    finally:
        child.kill()
        child.wait()


def test_a_killed_runs_lock_does_not_block_the_next_run(tmp_path):
    root = str(tmp_path / "pipeline")
    child = _holding_child(root)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert os.path.exists(run_lock.lock_path(root))  # its file is left, naming the dead pid
    assert run_lock.holder(root) is None
    with run_lock.hold(root) as started:
        assert run_lock.holder(root) == (os.getpid(), pytest.approx(started, abs=1e-3))
    assert run_lock.holder(root) is None
