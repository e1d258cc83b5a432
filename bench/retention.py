"""Benchmark the retention cleanup on PostgreSQL, with a writer running beside it.

    .venv/bin/python bench/retention.py [--messages 1000000] [--expired 0.2]

Seeds a scratch database (``talowa_bench_retention``) with ``--messages``
messages, makes ``--expired`` of them older than any retention period and the
rest a day old, then measures. The expired rows are the oldest ids, as in a
live system where ids grow with time; ``--scattered`` spreads them over the
whole table instead (every fifth id: every page touched, the harder case).
Then:

1. a writer inserts one message per transaction every 20 ms on its own
   connection for ``--baseline`` seconds: its p99 latency without cleanup;
2. ``apply_retention --json`` runs while the writer goes on, and a monitor
   polls ``pg_stat_activity`` every 10 ms for the oldest open transaction of
   any other connection; the cleanup's own per-batch transaction times come
   from its log;
3. ``apply_retention --restore-batch`` puts the batch back, timed;
4. a yardstick: PostgreSQL alone moves the same rows into the archive table,
   in as many batches, with the cleanup's core statement and nothing else (no
   policy, scan, tombstone, media or Python work), timed: this machine's floor
   for the work, and the cleanup's time as a multiple of it.

The writer runs with the same monitor beside it in both phases, and the
monitor samples what the writer waits for (printed as "writer waits").

Prints the machine (cores, CPU model, PostgreSQL's version) and the data
size, then a table with PASS or FAIL against the issue's targets:
cleanup >= 20,000 expired messages/s, no transaction over 1 s, the writer's
p99 <= 200 ms and <= 3x its p99 without cleanup.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    ROOT,
    data_size,
    environment,
    machine,
    manage,
    migrate_and_seed,
    recreate_database,
    scratch_work,
    table,
)

DATABASE = "talowa_bench_retention"
WRITER_INTERVAL = 0.02
TARGET_RATE = 20_000
TARGET_TRANSACTION = 1.0
TARGET_P99 = 0.2
TARGET_RATIO = 3.0
BATCH_LOG = re.compile(r"retention: archived (\d+) \S+ in batch \d+ \(([\d.]+) s\)")


def main() -> int:
    options = parse_args()
    with scratch_work("retention", [options.database], keep=options.keep) as work:
        url = recreate_database(options.database)
        env = environment(work, url)
        if options.pause_ms is not None:
            env["TALOWA_RETENTION_BATCH_PAUSE_MS"] = str(options.pause_ms)
        migrate_and_seed(env, options.messages)
        expired = age_rows(url, options.expired, scattered=options.scattered)
        print(machine())
        print(data_size(env))
        describe_messages(url, expired)
        baseline = Writer(url)
        baseline_monitor = Monitor(url)  # the same observer in both phases
        baseline_monitor.thread.start()
        baseline.run_for(options.baseline)
        baseline_monitor.stop.set()
        baseline_monitor.thread.join()
        cleanup, monitor, during = run_cleanup(env, url)
        print(f"writer waits alone: {baseline_monitor.waits()}")
        print(f"writer waits during cleanup: {monitor.waits()}")
        restore = run_restore(env, cleanup["json"]["batch"])
        floor = yardstick(url, cleanup["json"]["batch"], len(cleanup["batches"]))
        report(options, expired, baseline, during, cleanup, monitor, restore, floor)
        return 0 if report.passed else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--expired", type=float, default=0.2)
    parser.add_argument("--baseline", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument(
        "--scattered", action="store_true", help="Expire every n-th id instead."
    )
    parser.add_argument(
        "--pause-ms",
        type=int,
        default=None,
        help="TALOWA_RETENTION_BATCH_PAUSE_MS for the cleanup (default: the setting).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the database.")
    parser.add_argument(
        "--database", default=DATABASE, help=f"Scratch database (default {DATABASE})."
    )
    return parser.parse_args()


def _connect(url: str, name: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, application_name=name)


def age_rows(url: str, fraction: float, *, scattered: bool) -> int:
    """Make ``fraction`` of the messages 400 days old, the rest (and all else)
    a day old; return how many expired."""
    step = round(1 / fraction)
    with _connect(url, "bench-setup") as db:
        low, high = db.execute(
            "SELECT min(id), max(id) FROM messaging_message"
        ).fetchone()
        old = (
            f"id % {step} = 0"
            if scattered
            else f"id < {low} + {int((high - low + 1) * fraction)}"
        )
        # Spread over time (one second per id step), as real rows are.
        db.execute(
            "UPDATE messaging_message SET created_at = now() - interval '1 day' "
            "- (id % 50000) * interval '1 second'"
        )
        db.execute(
            "UPDATE messaging_message SET created_at = now() - interval '400 days' "
            f"+ id * interval '1 millisecond' WHERE {old}"
        )
        for table_name in ("messaging_callrecord", "messaging_mediafile"):
            db.execute(f"UPDATE {table_name} SET created_at = now() - interval '1 day'")
        db.execute("UPDATE messaging_callrecord SET started_at = created_at")
        db.execute("VACUUM ANALYZE")
        return db.execute(
            "SELECT count(*) FROM messaging_message "
            "WHERE created_at < now() - interval '365 days'"
        ).fetchone()[0]


def describe_messages(url: str, expired: int) -> None:
    """Print the size of the messages' table, indexes included, and how many expired."""
    with _connect(url, "bench-setup") as db:
        size = db.execute(
            "SELECT pg_total_relation_size('messaging_message')"
        ).fetchone()[0]
    print(
        f"Messages: {size / 1e6:,.0f} MB with indexes; {expired:,} expired",
        flush=True,
    )


class Writer:
    """Insert one message per transaction every 20 ms; record each latency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run_for(self, seconds: float) -> None:
        thread = threading.Thread(target=self.loop)
        thread.start()
        time.sleep(seconds)
        self.stop.set()
        thread.join()

    def loop(self) -> None:
        with _connect(self.url, "bench-writer") as db:
            conversation, sender = db.execute(
                "SELECT conversation_id, user_id FROM messaging_participant LIMIT 1"
            ).fetchone()
            while not self.stop.is_set():
                began = time.perf_counter()
                with db.transaction():
                    db.execute(
                        "INSERT INTO messaging_message (conversation_id, sender_id, "
                        "kind, body, metadata, is_edited, is_deleted, created_at, "
                        "updated_at) VALUES (%s, %s, 'group', 'bench', '{}', false, "
                        "false, now(), now())",
                        (conversation, sender),
                    )
                took = time.perf_counter() - began
                self.latencies.append(took)
                time.sleep(max(0.0, WRITER_INTERVAL - took))

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98]


class Monitor:
    """Poll for the oldest open transaction of the other connections, and
    sample what the writer waits for while its statement runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.longest = 0.0
        self.writer_waits: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def loop(self) -> None:
        with _connect(self.url, "bench-monitor") as db:
            while not self.stop.is_set():
                rows = db.execute(
                    "SELECT application_name, state, wait_event_type, wait_event, "
                    "extract(epoch FROM clock_timestamp() - xact_start) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                ).fetchall()
                for name, state, kind, event, seconds in rows:
                    if name == "bench-writer":
                        if state == "active":
                            self.writer_waits[f"{kind}:{event}" if kind else "CPU"] += 1
                    elif not name.startswith("bench-"):
                        self.longest = max(self.longest, float(seconds))
                time.sleep(0.01)

    def waits(self) -> str:
        total = sum(self.writer_waits.values())
        return (
            ", ".join(
                f"{name} {count}" for name, count in self.writer_waits.most_common(5)
            )
            + f" (of {total} samples)"
        )


def run_cleanup(env: dict, url: str):
    writer = Writer(url)
    monitor = Monitor(url)
    writer_thread = threading.Thread(target=writer.loop)
    writer_thread.start()
    monitor.thread.start()
    time.sleep(1)
    began = time.perf_counter()
    done = subprocess.run(
        [*MANAGE, "apply_retention", "--json"],
        env={**env, "TALOWA_LOG_LEVEL": "info"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    time.sleep(1)
    writer.stop.set()
    monitor.stop.set()
    writer_thread.join()
    monitor.thread.join()
    if done.returncode:
        raise RuntimeError(f"apply_retention failed:\n{done.stderr[-3000:]}")
    batches = [float(m.group(2)) for m in BATCH_LOG.finditer(done.stderr)]
    cleanup = {"json": json.loads(done.stdout), "seconds": seconds, "batches": batches}
    return cleanup, monitor, writer


def run_restore(env: dict, batch: int) -> dict:
    began = time.perf_counter()
    out = manage(env, "apply_retention", "--restore-batch", str(batch), "--json")
    return {"json": json.loads(out), "seconds": time.perf_counter() - began}


def yardstick(url: str, batch: int, batches: int) -> dict:
    """PostgreSQL alone doing the core of the cleanup's work: move the same
    expired messages (put back by the batch restore) into the archive table,
    in as many batches, one ``DELETE ... RETURNING`` into ``INSERT`` statement
    and one transaction each, triggers off and ``synchronous_commit`` off as the
    cleanup's fast path runs. No policy, scan, tombstone, media or Python work:
    the floor of this machine for the rows the cleanup moved.
    """
    with _connect(url, "bench-yardstick") as db:
        columns = ", ".join(
            row[0]
            for row in db.execute(
                "SELECT column_name FROM information_schema.columns WHERE "
                "table_name = 'messaging_message' ORDER BY ordinal_position"
            )
        )
        ids = [
            row[0]
            for row in db.execute(
                "SELECT id FROM messaging_message "
                "WHERE created_at < now() - interval '365 days' ORDER BY id"
            )
        ]
        db.execute("CHECKPOINT")
        size = -(-len(ids) // max(batches, 1))
        began = time.perf_counter()
        for start in range(0, len(ids), size):
            with db.transaction():
                db.execute(
                    "SET LOCAL synchronous_commit TO OFF; "
                    "SET LOCAL session_replication_role TO replica"
                )
                db.execute(
                    f"WITH moved AS (DELETE FROM messaging_message WHERE id = "
                    f"ANY(%s) RETURNING {columns}) INSERT INTO "
                    f"retention_archivedmessage ({columns}, batch_id) "
                    f"SELECT {columns}, %s FROM moved",
                    (ids[start : start + size], batch),
                )
        seconds = time.perf_counter() - began
    return {"rows": len(ids), "seconds": seconds}


def pause_ms(options) -> int:
    if options.pause_ms is not None:
        return options.pause_ms
    return int(os.environ.get("TALOWA_RETENTION_BATCH_PAUSE_MS", "0"))


def report(
    options, expired, baseline, during, cleanup, monitor, restore, floor
) -> None:
    deleted = sum(cleanup["json"]["deleted"].values())
    rate = deleted / cleanup["seconds"]
    longest_batch = max(cleanup["batches"], default=0.0)
    median_batch = statistics.median(cleanup["batches"] or [0.0])
    longest = max(monitor.longest, longest_batch)
    restored = sum(restore["json"]["restored"].values())
    checks = [
        (
            "cleanup rate (messages/s)",
            f"{rate:,.0f}",
            f">= {TARGET_RATE:,}",
            rate >= TARGET_RATE,
        ),
        (
            "longest transaction (s)",
            f"{longest:.3f}",
            f"<= {TARGET_TRANSACTION}",
            longest <= TARGET_TRANSACTION,
        ),
        (
            "writer p99 during cleanup (ms)",
            f"{during.p99 * 1000:.1f}",
            f"<= {TARGET_P99 * 1000:.0f}",
            during.p99 <= TARGET_P99,
        ),
        (
            "writer p99 ratio (during/alone)",
            f"{during.p99 / baseline.p99:.2f}",
            f"<= {TARGET_RATIO}",
            during.p99 <= TARGET_RATIO * baseline.p99,
        ),
    ]
    rows = [("measure", "value", "target", "result")]
    rows += [
        (name, value, target, "PASS" if ok else "FAIL")
        for name, value, target, ok in checks
    ]
    print()
    print(
        table(
            rows,
            f"retention cleanup, {options.messages:,} messages, {expired:,} expired "
            + ("(scattered ids)" if options.scattered else "(the oldest ids)"),
        )
    )
    print()
    details = [
        ("step", "value"),
        ("expired messages archived", f"{deleted:,}"),
        ("cleanup wall time incl. start-up (s)", f"{cleanup['seconds']:.2f}"),
        ("cleanup run's own time (s)", f"{cleanup['json']['seconds']:.2f}"),
        ("batches", f"{len(cleanup['batches']):,}"),
        ("median batch transaction (s)", f"{median_batch:.3f}"),
        ("longest batch transaction (s)", f"{longest_batch:.3f}"),
        ("batch pause (ms)", str(pause_ms(options))),
        ("longest open transaction seen (s)", f"{monitor.longest:.3f}"),
        ("writer p99 alone (ms)", f"{baseline.p99 * 1000:.1f}"),
        (
            "writer inserts alone / during",
            f"{len(baseline.latencies)} / {len(during.latencies)}",
        ),
        ("writer max during cleanup (ms)", f"{max(during.latencies) * 1000:.1f}"),
        ("batch restore: rows", f"{restored:,}"),
        ("batch restore (s)", f"{restore['seconds']:.2f}"),
        ("batch restore (rows/s)", f"{restored / restore['seconds']:,.0f}"),
        (
            "yardstick: PostgreSQL alone moves them (s)",
            f"{floor['seconds']:.2f} ({floor['rows']:,} rows)",
        ),
        (
            "yardstick rate (messages/s)",
            f"{floor['rows'] / floor['seconds']:,.0f}",
        ),
        (
            "cleanup's own time / yardstick",
            f"{cleanup['json']['seconds'] / floor['seconds']:.2f}",
        ),
    ]
    print(table(details, "details"))
    report.passed = all(ok for *_, ok in checks)


report.passed = False

if __name__ == "__main__":
    sys.exit(main())
