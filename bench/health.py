"""Time every component of the health check at 1,000,000 messages, on PostgreSQL.

    .venv/bin/python bench/health.py [--messages 1000000] [--backups 10000]
    .venv/bin/python bench/health.py --database talowa_h5 --data-dir /tmp/x --keep
    .venv/bin/python bench/health.py --database talowa_h5 --data-dir /tmp/x --reuse

Seeds a scratch database (``talowa_bench_health`` unless ``--database``) with
``--messages`` messages (bench/harness.py's data set), makes ``--expired`` of
them older than any retention period (bench/retention.py's ``age_rows``),
takes one real full backup and catalogs ``--backups`` - 1 more beside it (each
with both sidecar copies in the storage, as ``create_backup`` writes them),
and records one finished retention cleanup run. Then it runs every component
of ``check_system_health`` on its own, one after the other, three times in one
process (the first run is the cold one; the hourly check is the later ones),
and prints each one's wall seconds, the CPU seconds of this process in the
last run (the database server's excluded: on a loaded machine the wall time
is mostly waiting for a core), and what it reported, under the machine and
the data size. ``--reuse`` skips the seeding and measures an existing data
set again (after ``--keep``).

The ``workers`` component waits up to 6 s for a cluster's heartbeat when none
is running (none is here): that wait is the check's design, not its cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    data_size,
    drop_database,
    environment,
    machine,
    manage,
    migrate_and_seed,
    recreate_database,
    scratch_url,
    table,
)
from bench.retention import age_rows  # noqa: E402

TARGET_SECONDS = 1.0
ROUNDS = 3

# Runs in ``manage.py shell``: catalog more backups beside the real one.
CATALOG_BACKUPS = """
from backups.models import Backup
from backups.services.sidecars import read_sidecars, write_sidecars
from backups.storage import object_store
from retention.models import CleanupRun
from django.utils import timezone
real = Backup.objects.get(status="completed")
store = object_store()
sidecar = read_sidecars(store, real.object_key)[0]
clones = []
for n in range({count}):
    backup_id = f"backup_benchclone{{n:08d}}"
    key = f"archives/{{backup_id}}.tbk"
    write_sidecars(store, key, sidecar)
    clones.append(Backup(
        id=backup_id, kind=real.kind, scope=real.scope, status="completed",
        data_types=real.data_types, counts=real.counts, raw_bytes=real.raw_bytes,
        compressed_bytes=real.compressed_bytes, stored_bytes=real.stored_bytes,
        sha256=real.sha256, storage=real.storage, object_key=key,
        key_id=real.key_id, created_at=real.created_at, finished_at=real.finished_at,
    ))
Backup.objects.bulk_create(clones, batch_size=1000)
now = timezone.now()
CleanupRun.objects.create(
    started_at=now - timezone.timedelta(hours=3), finished_at=now,
    status="completed", counts={{"regular_messages": 1}}, seconds=1.0,
)
print(Backup.objects.count())
"""

# Runs in ``manage.py shell``: each component alone, ROUNDS times.
MEASURE = """
import json, time
from recovery.services.health_checks import CHECKS
rounds = []
for _ in range({rounds}):
    rows = {{}}
    for check in CHECKS:
        began, cpu = time.perf_counter(), time.process_time()
        try:
            found = check.run()
            status, value, detail = found.status, found.value, found.detail
        except Exception as exc:
            status, value, detail = "error", None, f"{{type(exc).__name__}}: {{exc}}"
        rows[check.name] = {{
            "seconds": time.perf_counter() - began,
            "cpu": time.process_time() - cpu,
            "status": status,
            "value": value,
            "detail": detail,
        }}
    rounds.append(rows)
print("@@" + json.dumps(rounds))
"""


def main() -> int:
    options = parse_args()
    data_dir = Path(options.data_dir or tempfile.mkdtemp(prefix="talowa-bench-health-"))
    url = scratch_url(options.database)
    env = environment(data_dir, url)
    try:
        if options.reuse:
            manage(env, "migrate", "-v0")  # the code may have moved on
        else:
            prepare(options, data_dir, env)
        print(machine())
        print(data_size(env))
        rounds = measure(env, options.rounds)
        report(options, rounds)
        slow = [n for n, row in rounds[-1].items() if row["seconds"] > TARGET_SECONDS]
        return 1 if set(slow) - {"workers"} else 0
    finally:
        if not options.keep and not options.reuse:
            drop_database(options.database)
            shutil.rmtree(data_dir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--backups", type=int, default=10_000)
    parser.add_argument("--expired", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--database", default="talowa_bench_health")
    parser.add_argument("--data-dir", help="TALOWA_DATA_DIR (default: a temporary one)")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the database and data directory."
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Measure a kept data set again."
    )
    return parser.parse_args()


def prepare(options, data_dir: Path, env: dict) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = recreate_database(options.database)
    migrate_and_seed(env, options.messages)
    expired = age_rows(url, options.expired, scattered=False)
    print(f"{expired:,} messages made older than any retention period", flush=True)
    began = time.perf_counter()
    manage(env, "create_backup", "--json")
    print(f"one full backup in {_since(began)} s", flush=True)
    began = time.perf_counter()
    script = CATALOG_BACKUPS.format(count=max(0, options.backups - 1))
    total = manage(env, "shell", "-c", script).strip().splitlines()[-1]
    print(f"{int(total):,} backups cataloged in {_since(began)} s", flush=True)


def measure(env: dict, rounds: int) -> list[dict]:
    env = {**env, "TALOWA_HEALTH_CHECK_TIMEOUT": "600"}
    out = manage(env, "shell", "-c", MEASURE.format(rounds=rounds))
    return json.loads(out.rpartition("@@")[2])


def report(options, rounds: list[dict]) -> None:
    header = (
        "component",
        *[f"run {n + 1} (s)" for n in range(len(rounds))],
        "last run: our CPU (s)",
        "status",
    )
    rows = [header]
    for name in rounds[0]:
        last = rounds[-1][name]
        rows.append(
            (
                name,
                *[f"{r[name]['seconds']:.3f}" for r in rounds],
                f"{last['cpu']:.3f}",
                last["status"],
            )
        )
    title = (
        f"check_system_health per component, {options.messages:,} messages, "
        f"{options.backups:,} backups (target: each under {TARGET_SECONDS:g} s "
        "after the first run)"
    )
    print()
    print(table(rows, title))
    print()
    details = [("component", "value", "detail")]
    for name, row in rounds[-1].items():
        details.append((name, str(row["value"]), row["detail"][:110]))
    print(table(details, "what each reported (last run)"))


def _since(began: float) -> str:
    return f"{time.perf_counter() - began:.1f}"


if __name__ == "__main__":
    sys.exit(main())
