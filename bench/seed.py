"""Benchmark ``seed_messaging`` at full size against a scratch database.

    .venv/bin/python bench/seed.py                  # PostgreSQL, full size
    .venv/bin/python bench/seed.py --messages 200000
    .venv/bin/python bench/seed.py --sqlite         # SQLite, a smaller size

PostgreSQL: creates the scratch database ``talowa_bench_seed`` (dropping a
leftover one first) on the server of ``--server`` (default: trust auth on
127.0.0.1:5432 as ``postgres``), migrates it and runs the seed, each in a
subprocess with ``DATABASE_URL`` in its environment, then drops it (unless
``--keep``). SQLite: the same in a temporary ``TALOWA_DATA_DIR``. Prints rows
per table, wall seconds, rows/s, the seed subprocess's peak RSS, and PASS or
FAIL against the target (60 s by default), under the machine and data size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    DEFAULT_SERVER,
    MANAGE,
    ROOT,
    data_size,
    machine,
    manage,
    scratch_environment,
    scratch_work,
)

SCRATCH_DATABASE = "talowa_bench_seed"
FULL_SIZE = {
    "users": 2_000,
    "conversations": 20_000,
    "messages": 1_000_000,
    "calls": 100_000,
    "media": 50_000,
}
SQLITE_SIZE = {
    "users": 500,
    "conversations": 5_000,
    "messages": 100_000,
    "calls": 10_000,
    "media": 5_000,
}
TABLES = ("conversations", "participants", "messages", "call_history", "media_files")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    sizes = {name: getattr(options, name) for name in FULL_SIZE}
    sizes = {name: value for name, value in sizes.items() if value is not None}
    defaults = SQLITE_SIZE if options.sqlite else FULL_SIZE
    sizes = {**defaults, **sizes}
    database = None if options.sqlite else SCRATCH_DATABASE
    with scratch_work(
        "seed", [database] if database else [], keep=options.keep, server=options.server
    ) as work:
        env, engine = scratch_environment(work, database, server=options.server)
        return run(options, sizes, env, engine=engine)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in FULL_SIZE.items():
        parser.add_argument(f"--{name}", type=int, help=f"default {value:,}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--target",
        type=float,
        default=60.0,
        help="seconds the seed must finish within (default 60)",
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help="PostgreSQL server URL (its database part is ignored)",
    )
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help=f"benchmark SQLite instead, default {SQLITE_SIZE}",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch database afterwards"
    )
    return parser.parse_args(argv)


def run(
    options: argparse.Namespace,
    sizes: dict[str, int],
    env: dict[str, str],
    *,
    engine: str,
) -> int:
    machine_line = machine()  # its load average before the work
    manage(env, "migrate", "-v0")
    args = [f"--{name}={value}" for name, value in sizes.items()]
    command = [
        *MANAGE,
        "seed_messaging",
        *args,
        f"--seed={options.seed}",
        "--noinput",
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode:
        sys.stderr.write(done.stderr)
        print(f"FAIL: seed_messaging exited with {done.returncode}")
        return 1
    result = json.loads(done.stdout)
    peak = f"{peak_kib / 1024:,.0f} MiB" + ("" if peak_kib > before else " (or less)")
    print(machine_line)
    print(data_size(env))
    print(report(result, wall, peak, engine, options.target))
    return 0 if wall <= options.target else 1


def report(result: dict, wall: float, peak: str, engine: str, target: float) -> str:
    counts, seconds = result["counts"], result["table_seconds"]
    rows = [("table", "rows", "seconds", "rows/s")]
    for table in TABLES:
        spent = seconds.get(table, 0.0)
        rate = f"{counts[table] / spent:,.0f}" if spent else "-"
        rows.append((table, f"{counts[table]:,}", f"{spent:.1f}", rate))
    rest = result["seconds"] - sum(seconds.values())
    rows.append(
        (
            "(users, indexes, keys, commit)",
            f"{counts['users']:,} users",
            f"{rest:.1f}",
            "",
        )
    )
    total = sum(counts[table] for table in TABLES)
    rows.append(
        (
            "total (wall, subprocess)",
            f"{total:,}",
            f"{wall:.1f}",
            f"{total / wall:,.0f}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"seed_messaging on {engine}"]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    verdict = "PASS" if wall <= target else "FAIL"
    lines.append(f"peak RSS of the seed subprocess: {peak}")
    lines.append(f"{verdict}: {wall:.1f} s against a target of {target:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
