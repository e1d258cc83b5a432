"""Who runs a job, and whether it is still alive.

Every job that can be left half-done (a backup, a recovery run, an export, a
named lock) records its worker as ``host:pid`` and a heartbeat time. Readers
of job records (commands, admin pages, the next job of the same scope) call
``dead`` on the unfinished ones and fail what it returns, with
``died_reason``, so no job stays "running" after its process died.

A worker is presumed dead when:
- it ran on this host and its process is gone, or its pid now belongs to a
  process that started after the job's last heartbeat (the pid was reused);
- it ran on another host and its heartbeat is older than
  ``settings.TALOWA_WORKER_HEARTBEAT_LIMIT`` (seconds; docs/operations.md).

On this host the process table decides alone: a live process may hold its
heartbeat back (on SQLite a long transaction keeps every other writer out),
and it is never failed under it. SQLite means one machine, so ``Heartbeat``
beats only on a networked database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

HOST = socket.gethostname()
WORKER_DIED = "worker died"
# A process started this long after a heartbeat is another process: the
# kernel's boot time has a resolution of one second.
PID_REUSE_SLACK = timedelta(seconds=2)

Job = TypeVar("Job")


def this_worker() -> str:
    """Return this process's worker name, ``host:pid``."""
    return f"{HOST}:{os.getpid()}"


def heartbeat_limit() -> timedelta:
    """Return how long a worker on another host may stay silent and be alive."""
    return timedelta(seconds=settings.TALOWA_WORKER_HEARTBEAT_LIMIT)


def heartbeat_every() -> timedelta:
    """Return how often a running job renews its heartbeat."""
    return min(timedelta(seconds=30), heartbeat_limit() / 4)


def worker_is_alive(worker: str, *, last_seen: datetime | None) -> bool:
    """Tell whether ``worker`` (``host:pid``), last seen at ``last_seen``, may run."""
    host, _, pid = worker.rpartition(":")
    if host == HOST and pid.isdigit():
        return _process_is_alive(int(pid), last_seen)
    if last_seen is None:
        return False
    return timezone.now() - last_seen < heartbeat_limit()


def _process_is_alive(pid: int, last_seen: datetime | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, but perhaps a reused pid
    started = _process_start(pid)
    if started is None or last_seen is None:
        return True
    return started <= last_seen + PID_REUSE_SLACK


def _process_start(pid: int) -> datetime | None:
    """Return when process ``pid`` started, where /proc tells (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (field 2) may hold spaces: split after it.
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/stat") as system:
            boot = next(
                int(line.split()[1]) for line in system if line.startswith("btime ")
            )
        ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
        return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), tz=UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def last_seen(job: Any) -> datetime | None:
    """Return the latest sign of life a job record holds."""
    return (
        getattr(job, "heartbeat_at", None)
        or getattr(job, "started_at", None)
        or getattr(job, "created_at", None)
    )


def dead(jobs: Iterable[Job]) -> list[Job]:
    """Return the jobs (with ``worker`` and ``heartbeat_at``) whose worker died."""
    return [
        job for job in jobs if not worker_is_alive(job.worker, last_seen=last_seen(job))
    ]


def died_reason(job: Any) -> str:
    """Return the failure reason recorded on a job whose worker died."""
    seen = last_seen(job)
    since = f", last heard of {seen:%Y-%m-%d %H:%M:%S} UTC" if seen else ""
    who = job.worker or "its worker"
    return f"{WORKER_DIED}: {who} stopped before it finished{since}"


class Heartbeat:
    """Renew ``heartbeat_at`` of the rows of ``jobs`` from a thread, for a block.

    The thread has its own database connection, so the beats commit while the
    job's own connection sits in a long transaction. On SQLite it does nothing
    (see the module's docstring).
    """

    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if connection.vendor != "sqlite":
            self._thread = threading.Thread(
                target=self._run, daemon=True, name="talowa-heartbeat"
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(heartbeat_every().total_seconds()):
                try:
                    self.jobs.update(heartbeat_at=timezone.now())
                except DatabaseError:
                    logger.warning("could not record a heartbeat", exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only
