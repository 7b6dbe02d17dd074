"""One run at a time per pipeline root: an exclusive ``flock`` on ``<pipeline_root>/.run.lock``.

Two ``LocalDagRunner`` runs on one root would write the same MLMD SQLite file and the same
component directories at once: each can register a cache hit on the other's half-written
artifacts, and SQLite's "database is locked" surfaces as a failed component. The second run is
refused instead, before it does any work, with the first run's pid and start time.

Why ``flock`` and not a pid file alone: the kernel drops the lock when its holder dies, SIGKILL
included, so a killed run never blocks the next one, and a recycled pid cannot pass for a live
run. The file is never deleted (deleting a lock file lets two processes lock two different
inodes); its text names the holder, for the message and for ``recsys summary``.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os

LOCK_NAME = ".run.lock"


class PipelineRootBusy(RuntimeError):
    """Another live process runs the pipeline on this root."""


def lock_path(pipeline_root: str) -> str:
    return os.path.join(pipeline_root, LOCK_NAME)


def _holder_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


def _parse(text: str) -> tuple[int | None, float | None]:
    """``"<pid> <start, unix s>"`` -> (pid, start); (None, None) when unreadable."""
    try:
        pid, started = text.split()
        return int(pid), float(started)
    except ValueError:
        return None, None


def _iso(started: float | None) -> str:
    if started is None:
        return "unknown"
    return datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def hold(pipeline_root: str):
    """Holds the root's run lock while the block runs; raises ``PipelineRootBusy`` naming the root
    and the live holder (pid, start time) when another process holds it. Yields the start time
    written into the lock (unix s)."""
    os.makedirs(pipeline_root, exist_ok=True)
    path = lock_path(pipeline_root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited across exec (PEP 446)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, started = _parse(_holder_text(fd))
            raise PipelineRootBusy(
                f"pipeline root {pipeline_root} is in use by another run (pid {pid or 'unknown'}, "
                f"started {_iso(started)}); wait for it to finish, or give this run its own "
                f"pipeline.output_dir") from None
        started = datetime.datetime.now(datetime.timezone.utc).timestamp()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {started:.3f}\n".encode(), 0)
        yield started
    finally:
        os.close(fd)  # releases the lock


def holder(pipeline_root: str) -> tuple[int, float] | None:
    """(pid, start time) of the live process holding the root's run lock, or None when no process
    holds it (never run, finished, or killed: the kernel released its lock)."""
    try:
        fd = os.open(lock_path(pipeline_root), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held exclusively: a run is live
            pid, started = _parse(_holder_text(fd))
            return (pid or 0, started if started is not None else os.fstat(fd).st_mtime)
        return None
    finally:
        os.close(fd)
