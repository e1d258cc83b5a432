"""Benchmark the administrators' pages on PostgreSQL: server time and SQL queries.

    .venv/bin/python bench/dashboard.py [--messages 1000000] [--backups 10000]

Builds a scratch database (``talowa_bench_dashboard``) and data directory,
seeds ``--messages`` messages with the harness's ``seed_messaging``, then, in
this process (Django set up on the scratch database, DEBUG off):

1. the history that does not grow with the catalog (``bench.catalog``): the
   default schedules and three more with ``--days`` days of runs, hourly
   health checks of every component, daily cleanups, weekly drills;
2. ``--small`` backups (catalog rows in bulk, chains and statuses as a live
   system has them), then measures;
3. grows the catalog to ``--backups`` backups and measures again.

Each measure is Django's test client in this process, logged in as a staff
user in the Backup viewer role and as a superuser: the dashboard (the admin's
index, ``/admin/``), the backup list (``/admin/backups/backup/``) and the
status API (``/api/status/``); and two direct calls, ``get_backup_status()``
and ``latest_health()``. "cold" clears every cache before each request,
"warm" follows a first request. Server time is the median of ``--requests``
requests' time inside the client's call (the request through every
middleware, the view and the template); the query count is that of one
more request, captured. On a shared machine the "cpu ms" column helps to
read the times: this process's own CPU time per request (Python: the view
and the template), without PostgreSQL's.

Prints the machine (cores, CPU model, load average), the data size and a
table with PASS or FAIL against the issue's targets for the dashboard: median
at most 300 ms cold and 100 ms warm, at most 30 queries, the same count at
``--small`` and at ``--backups`` backups. The other rows have no time target;
their query counts must also stay the same at both sizes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    data_size,
    environment,
    machine,
    migrate_and_seed,
    recreate_database,
    scratch_work,
    table,
)

DATABASE = "talowa_bench_dashboard"
TARGET_COLD_MS = 300.0
TARGET_WARM_MS = 100.0
TARGET_QUERIES = 30
PAGES = {
    "dashboard": "/admin/",
    "backup list": "/admin/backups/backup/",
    "status API": "/api/status/",
}
ROLES = ("viewer", "superuser")
MODES = ("cold", "warm")


@dataclass
class Sample:
    median_ms: float
    queries: int
    cpu_ms: float  # this process's CPU time (not PostgreSQL's), median


def main() -> int:
    options = parse_args()
    with scratch_work("dashboard", [DATABASE], keep=options.keep) as work:
        url = recreate_database(DATABASE)
        env = environment(work, url) | {"TALOWA_DEBUG": "false"}
        machine_line = machine()  # its load average before the work
        migrate_and_seed(env, options.messages)
        os.environ.update(env)
        bench = Bench(options)
        bench.prepare()
        results = {options.small: bench.measure_at(options.small)}
        results[options.backups] = bench.measure_at(options.backups)
        print()
        print(machine_line)
        print(f"load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(data_size(env))
        print(bench.history_line)
        return report(options, results)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backups", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100, help="first catalog size")
    parser.add_argument("--days", type=int, default=90, help="history to seed")
    parser.add_argument("--requests", type=int, default=20, help="per measure")
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    options = parser.parse_args()
    if not 0 < options.small < options.backups:
        parser.error("--small must be above 0 and below --backups")
    if not 1 <= options.requests <= 1000:
        parser.error("--requests must be 1-1000")
    return options


class Bench:
    """Django in this process, on the scratch database: seed, then measure."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.seeded = 0
        self.history_line = ""

    def prepare(self) -> None:
        import django

        django.setup()
        from django.conf import settings

        # The test client's host; no setup_test_environment(), whose
        # instrumented template rendering would add to every page's time.
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        from bench.catalog import seed_history

        began = time.perf_counter()
        made = seed_history(days=self.options.days)
        self.history_line = (
            f"History ({self.options.days} days): "
            + ", ".join(f"{n:,} {name}" for name, n in made.items())
            + f"; seeded in {time.perf_counter() - began:.1f} s"
        )
        print(self.history_line, flush=True)
        self.clients = {role: self._client(role) for role in ROLES}

    def _client(self, role: str):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.test import Client

        from talowa_admin.roles import BACKUP_VIEWER

        users = get_user_model().objects
        name = f"bench-{role}"
        user = users.filter(username=name).first()
        if user is None and role == "superuser":
            user = users.create_superuser(name, f"{name}@example.org", None)
        elif user is None:
            user = users.create_user(name, is_staff=True)
            user.groups.add(Group.objects.get(name=BACKUP_VIEWER))
        client = Client()
        client.force_login(user)
        return client

    def measure_at(self, backups: int) -> dict[tuple[str, str, str], Sample]:
        from django.db import connection

        from bench.catalog import seed_backups

        began = time.perf_counter()
        self.seeded += seed_backups(backups - self.seeded, days=self.options.days)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"catalog at {self.seeded:,} backups "
            f"(seeded in {time.perf_counter() - began:.1f} s); measuring ...",
            flush=True,
        )
        samples = {}
        for name, target in self.targets().items():
            for role in ROLES if name in PAGES else ("-",):
                for mode in MODES:
                    samples[name, role, mode] = self.sample(target, role, mode)
        return samples

    def targets(self) -> dict[str, Callable[[str], object] | str]:
        from recovery.services.health import latest_health
        from talowa_admin.services import get_backup_status

        return {
            **PAGES,
            "get_backup_status()": lambda role: get_backup_status(),
            "latest_health()": lambda role: latest_health(),
        }

    def sample(self, target, role: str, mode: str) -> Sample:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        call = self._caller(target, role)
        if mode == "warm":
            call()
        times, cpu = [], []
        for _ in range(self.options.requests):
            if mode == "cold":
                clear_caches()
            began, began_cpu = time.perf_counter(), time.process_time()
            call()
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        if mode == "cold":
            clear_caches()
        with CaptureQueriesContext(connection) as queries:
            call()
        return Sample(
            statistics.median(times) * 1000, len(queries), statistics.median(cpu) * 1000
        )

    def _caller(self, target, role: str) -> Callable[[], object]:
        if callable(target):
            return lambda: target(role)
        client = self.clients[role]

        def get():
            response = client.get(target)
            if response.status_code != 200:
                raise RuntimeError(f"GET {target} as {role}: {response.status_code}")
            return response

        return get


def clear_caches() -> None:
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()


def report(options, results: dict[int, dict]) -> int:
    small, large = options.small, options.backups
    rows = [
        (
            "measure",
            "role",
            "cache",
            f"ms at {small:,}",
            f"ms at {large:,}",
            f"cpu ms at {large:,}",
            f"queries at {small:,}",
            f"queries at {large:,}",
            "target",
            "result",
        )
    ]
    passed = True
    for key, at_large in results[large].items():
        at_small = results[small][key]
        name, role, mode = key
        same = at_small.queries == at_large.queries
        if name == "dashboard":
            limit = TARGET_COLD_MS if mode == "cold" else TARGET_WARM_MS
            ok = (
                same
                and at_large.median_ms <= limit
                and at_small.median_ms <= limit
                and at_large.queries <= TARGET_QUERIES
            )
            target = f"<= {limit:.0f} ms, <= {TARGET_QUERIES} q, same"
        else:
            ok, target = same, "same queries"
        passed &= ok
        rows.append(
            (
                name,
                role,
                mode,
                f"{at_small.median_ms:.1f}",
                f"{at_large.median_ms:.1f}",
                f"{at_large.cpu_ms:.1f}",
                at_small.queries,
                at_large.queries,
                target,
                "PASS" if ok else "FAIL",
            )
        )
    print()
    print(
        table(
            rows,
            f"admin pages, median of {options.requests} requests in process "
            f"(server time), {options.messages:,} messages, {options.days} days "
            "of history",
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
