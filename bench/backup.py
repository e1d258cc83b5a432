"""Benchmark backups against PostgreSQL's own tools, side by side in one run.

    .venv/bin/python bench/backup.py [--messages 1000000] [--runs 3]

On a scratch PostgreSQL database seeded with ``seed_messaging`` (1,000,000
messages by default) it measures, each in its own subprocess: our full
backup; ``pg_dump -Fc`` of the same tables; ``pg_dump -Fp | zstd | openssl
enc -aes-256-ctr``, its zstd at our level with as many compression threads
as ours (both printed beside the table); Django's ``dumpdata`` of the same
models; our incremental after 1% of the messages changed; our verify, and beside it
``openssl enc -d | zstd -d`` of the pipeline's output, which only decrypts
and decompresses, as a yardstick of this machine's speed. Then our full
backup again on a quarter of the data, to show memory stays flat. Prints wall
seconds (median of ``--runs``), our commands' own time (the operation,
without the 0.6 s it takes to start Python and Django, which a worker of the
qcluster pays once, not per backup), peak RSS, output bytes, the machine and
the data size, and the issue's ratios. A ratio to another tool is always
wall time against wall time: its own time is not measured, so our own time
against it would flatter us.

The incremental and verify targets are judged on own time: both operations
take well under a second, so the start-up would be most of a wall-clock
figure, and the worker that runs scheduled backups and verifications has
paid it long before. Their wall-clock ratios are printed for information.

An incremental carries the rows changed since its parent's watermark (the
database's clock, backups/engines.py): each turn's incremental carries that
turn's 1% of messages.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    TABLES,
    best_of,
    data_size,
    environment,
    machine,
    manage,
    measure,
    megabytes,
    mib,
    recreate_database,
    scratch_work,
    seed,
    table,
    touch_one_percent,
)

DATABASE = "talowa_bench_backup"
SMALL_DATABASE = "talowa_bench_backup_small"
MODELS = [
    "auth.user",
    "messaging.conversation",
    "messaging.participant",
    "messaging.message",
    "messaging.callrecord",
    "messaging.mediafile",
]


def main() -> int:
    options = parse_args()
    databases = (DATABASE, SMALL_DATABASE)
    with scratch_work("backup", databases, keep=options.keep) as work:
        return run(options, work)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-dumpdata", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--compression-level",
        type=int,
        default=None,
        help="TALOWA_BACKUP_COMPRESSION_LEVEL for our backups",
    )
    return parser.parse_args()


def our_compression(env: dict[str, str]) -> tuple[int, int]:
    """Return our backups' zstd level and compression threads, as configured."""
    out = manage(
        env,
        "shell",
        "-c",
        "from django.conf import settings\n"
        "from backups.services.pipeline import COMPRESSION_THREADS\n"
        "print(settings.TALOWA_BACKUP_COMPRESSION_LEVEL, COMPRESSION_THREADS)",
    )
    level, threads = out.strip().splitlines()[-1].split()
    return int(level), int(threads)


def zstd_level(level: int) -> str:
    """The zstd command line's option for the zstandard library's ``level``."""
    return f"--fast={-level}" if level < 0 else f"-{level or 3}"


def prepare(
    work: Path, database: str, messages: int, level: int | None
) -> dict[str, str]:
    env = environment(work / database, recreate_database(database))
    if level is not None:
        env["TALOWA_BACKUP_COMPRESSION_LEVEL"] = str(level)
    manage(env, "migrate", "-v0")
    seed(env, messages)
    manage(
        env,
        "shell",
        "-c",
        "from django.db import connection; "
        "connection.cursor().execute('VACUUM ANALYZE')",
    )
    return env


def run(options: argparse.Namespace, work: Path) -> int:
    machine_line = machine()  # its load average before the work
    print(f"Seeding {options.messages:,} messages ...", flush=True)
    env = prepare(work, DATABASE, options.messages, options.compression_level)
    size = data_size(env)
    rows = [("step", "wall s", "own s", "peak RSS MiB", "output MB", "runs (wall s)")]

    def record(name, measured, times, size, own=None):
        rows.append(
            (
                name,
                f"{measured.seconds:.2f}",
                "" if own is None else f"{own:.2f}",
                mib(measured.peak_mib),
                "" if size is None else megabytes(size),
                " ".join(f"{t:.2f}" for t in times),
            )
        )

    full, times = best_of(options.runs, [*MANAGE, "create_backup", "--json"], env)
    record(
        "ours: full backup",
        full,
        times,
        full.json()["size_bytes"],
        full.json()["seconds"],
    )

    tables = " ".join(f"-t {t}" for t in TABLES)
    dump = work / "dump.fc"
    fc, times = best_of(
        options.runs, [f"pg_dump -Fc {tables} -f {dump} {DATABASE}"], env, shell=True
    )
    record("pg_dump -Fc", fc, times, dump.stat().st_size)

    key = work / "openssl.pass"
    key.write_text(os.urandom(32).hex())
    key.chmod(0o600)
    piped = work / "dump.sql.zst.enc"
    level, threads = our_compression(env)
    zstd = f"zstd {zstd_level(level)} -T{threads}"
    pipeline = (
        f"pg_dump -Fp {tables} {DATABASE} | {zstd} -q -c | "
        f"openssl enc -aes-256-ctr -pbkdf2 -pass file:{key} -out {piped}"
    )
    pipe, times = best_of(options.runs, [pipeline], env, shell=True)
    record(f"pg_dump | {zstd} | openssl", pipe, times, piped.stat().st_size)

    if not options.skip_dumpdata:
        out = work / "dumpdata.json"
        dd = measure([*MANAGE, "dumpdata", *MODELS, "-o", str(out)], env)
        record("django dumpdata", dd, [dd.seconds], out.stat().st_size)

    incrementals = []
    for turn in range(options.runs):
        manage(env, "shell", "-c", touch_one_percent(turn))
        incrementals.append(
            measure([*MANAGE, "create_backup", "--incremental", "--json"], env)
        )
    incrementals.sort(key=lambda m: m.seconds)
    incremental = incrementals[len(incrementals) // 2]
    record(
        "ours: incremental (1% changed)",
        incremental,
        [m.seconds for m in incrementals],
        incremental.json()["size_bytes"],
        incremental.json()["seconds"],
    )

    full_id = full.json()["id"]
    verify, times = best_of(
        options.runs, [*MANAGE, "verify_backup", full_id, "--json"], env
    )
    record(
        "ours: verify full",
        verify,
        times,
        full.json()["size_bytes"],
        verify.json()["results"][0]["seconds"],
    )
    # A reference for verify's speed on this machine, measured beside it:
    # only decrypting and decompressing the pipeline's output.
    unpack = (
        f"openssl enc -d -aes-256-ctr -pbkdf2 -pass file:{key} -in {piped} "
        "| zstd -d -q -c > /dev/null"
    )
    unpacked, times = best_of(options.runs, [unpack], env, shell=True)
    record("openssl -d | zstd -d of that output", unpacked, times, None)

    quarter = options.messages // 4
    print(f"Seeding {quarter:,} messages for the memory comparison ...", flush=True)
    small_env = prepare(work, SMALL_DATABASE, quarter, options.compression_level)
    small, times = best_of(
        options.runs, [*MANAGE, "create_backup", "--json"], small_env
    )
    record(
        f"ours: full backup, {quarter:,} messages",
        small,
        times,
        small.json()["size_bytes"],
        small.json()["seconds"],
    )

    print()
    print(machine_line)
    print(size)
    print(
        table(
            rows,
            f"Backups of {options.messages:,} messages on PostgreSQL "
            f"(median of {options.runs}; own s = the operation itself)",
        )
    )
    print(
        f"zstd: ours at level {level} with {threads} compression threads "
        f"(TALOWA_BACKUP_COMPRESSION_LEVEL, backups.services.pipeline), the "
        f"pipeline's {zstd}; pg_dump -Fc compresses with zlib "
        "in its one process; both decompressions run on one thread."
    )
    print()
    unpacked_mb = piped.stat().st_size / 1e6
    return verdicts(full, fc, pipe, incremental, verify, unpacked, unpacked_mb, small)


def verdicts(full, fc, pipe, incremental, verify, unpacked, unpacked_mb, small):
    archive_mb = full.json()["size_bytes"] / 1e6
    raw_mb = full.json()["raw_bytes"] / 1e6
    own_full = full.json()["seconds"]
    own_verify = verify.json()["results"][0]["seconds"]
    checks = [
        (
            "full / (pg_dump | zstd | openssl), wall",
            full.seconds / pipe.seconds,
            "<= 2.0",
            2.0,
        ),
        ("full / pg_dump -Fc, wall", full.seconds / fc.seconds, "<= 0.5", 0.5),
        ("peak RSS of the full backup (MiB)", full.peak_mib, "<= 150", 150),
        (
            "peak RSS, full data / quarter data",
            full.peak_mib / small.peak_mib,
            "flat (<= 1.25)",
            1.25,
        ),
        (
            "incremental / full, wall (with 2 x the start-up)",
            incremental.seconds / full.seconds,
            "(info)",
            None,
        ),
        (
            "incremental / full, own time",
            incremental.json()["seconds"] / own_full,
            "<= 0.10",
            0.10,
        ),
        (
            "verify, MB of archive per s, wall (with the start-up)",
            archive_mb / verify.seconds,
            "(info)",
            None,
        ),
        (
            "verify, MB of archive per s, own time",
            archive_mb / own_verify,
            ">= 150",
            -150,
        ),
        ("verify, MB of raw data per s, own time", raw_mb / own_verify, "(info)", None),
        (
            "openssl -d | zstd -d, MB of input per s, wall",
            unpacked_mb / unpacked.seconds,
            "(info)",
            None,
        ),
        (
            "verify MB/s / (openssl -d | zstd -d) MB/s, wall",
            archive_mb / verify.seconds / (unpacked_mb / unpacked.seconds),
            "(info)",
            None,
        ),
    ]
    rows = [("target", "measured", "goal", "")]
    verdict = []
    for name, value, goal, limit in checks:
        ok = (
            None
            if limit is None
            else (value >= -limit if limit < 0 else value <= limit)
        )
        verdict.append(ok)
        rows.append(
            (name, f"{value:.2f}", goal, "" if ok is None else "PASS" if ok else "FAIL")
        )
    print(
        table(
            rows,
            f"Targets (archive {archive_mb:.1f} MB of {raw_mb:.1f} MB "
            f"raw: {raw_mb / archive_mb:.1f}x compression)",
        )
    )
    return 0 if all(v is not False for v in verdict) else 1


if __name__ == "__main__":
    sys.exit(main())
