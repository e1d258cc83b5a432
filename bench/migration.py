"""Benchmark moving backups to S3 and re-encrypting them, beside plain yardsticks.

    .venv/bin/python bench/migration.py [--messages 1000000] [--runs 5]

On a scratch PostgreSQL database seeded with ``seed_messaging`` (1,000,000
messages by default) it takes a full backup and ``--incrementals`` (3)
incrementals, each after 1% of the messages changed, into the file storage.
A ``moto_server`` process is the S3 endpoint. Each step runs in its own
subprocess and is measured the same way (bench/harness.py):

- ``migrate_backups --to s3``: every archive and both sidecar copies copied,
  read back and checked against the catalog; the catalog switched;
- a plain boto3 ``upload_file`` of the same files (its default: multipart,
  10 threads), the yardstick, in the same run;
- ``convert_backups --ids FULL --reencrypt``: the full archive decoded,
  written again with a fresh data key, decoded again and compared;
- a fresh full backup of the same data, its yardstick.

Each compared pair (migration and upload, re-encryption and fresh backup)
runs side by side, one run of each in turn, so that the machine's drift
during the benchmark weighs on both alike. Then migration and re-encryption
again on a quarter of the data, to show memory stays flat. Prints wall
seconds (median of ``--runs``, default 5), each step's
own time (the operation, without starting Python, Django or boto3), peak
RSS, and the issue's targets. The time targets are judged wall against wall,
like with like: each side is one process an operator starts, its interpreter
and libraries' start-up included (the yardstick's Python and boto3, our
Django); the own-time ratios are printed for information. The project's
sources are compiled to bytecode first, as an installed deployment has them
(``PYTHONDONTWRITEBYTECODE`` would otherwise make every one of our processes
compile them again, and not the yardstick's, whose libraries pip compiled).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    ROOT,
    alternately,
    compile_sources,
    environment,
    manage,
    megabytes,
    mib,
    recreate_database,
    scratch_work,
    seed,
    table,
    touch_one_percent,
)

DATABASE = "talowa_bench_migration"
SMALL_DATABASE = "talowa_bench_migration_small"
BUCKET = "talowa-bench"

PLAIN_UPLOAD = """
import json, os, sys, time, boto3
from pathlib import Path
root = Path(sys.argv[1])
client = boto3.client("s3", endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
                      region_name="us-east-1")
started = time.perf_counter()
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    client.upload_file(str(path), sys.argv[2], "plain/" + str(path.relative_to(root)))
print(json.dumps({"seconds": time.perf_counter() - started}))
"""

BACK_TO_FILES = (
    "from backups.models import Backup, StorageMigration; "
    "Backup.objects.update(storage='backups-file'); "
    "StorageMigration.objects.all().delete()"
)


def main() -> int:
    options = parse_args()
    with (
        scratch_work(
            "migration", (DATABASE, SMALL_DATABASE), keep=options.keep
        ) as work,
        moto_server() as endpoint,
    ):
        return run(options, work, endpoint)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--incrementals", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


class moto_server:  # noqa: N801 (used as a context manager, like open)
    """A ``moto_server`` subprocess on a free port; yields its endpoint URL."""

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1"]
            + ["-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self.endpoint
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def s3_environment(env: dict[str, str], endpoint: str) -> dict[str, str]:
    return {
        **env,
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_LOCATION": "backups",
    }


def empty_bucket(endpoint: str) -> None:
    import boto3
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=30)
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket=BUCKET)


def prepare(work: Path, database: str, messages: int, endpoint: str, turns: int):
    """Seed, back up (a full and ``turns`` incrementals); return env and full id."""
    env = s3_environment(
        environment(work / database, recreate_database(database)), endpoint
    )
    manage(env, "migrate", "-v0")
    seed(env, messages)
    full = json.loads(manage(env, "create_backup", "--json"))["id"]
    for turn in range(turns):
        manage(env, "shell", "-c", touch_one_percent(turn))
        manage(env, "create_backup", "--incremental", "--json")
    return env, full


def run(options: argparse.Namespace, work: Path, endpoint: str) -> int:
    print(machine_line(), flush=True)
    compile_sources()
    print(f"Seeding {options.messages:,} messages and backing up ...", flush=True)
    env, full = prepare(
        work, DATABASE, options.messages, endpoint, options.incrementals
    )
    rows = [("step", "wall s", "own s", "peak RSS MiB", "MB", "runs (wall s)")]
    measured = measure_all(options, env, full, endpoint, work / DATABASE, rows)
    quarter = options.messages // 4
    print(f"Seeding {quarter:,} messages for the memory comparison ...", flush=True)
    small_env, small_full = prepare(
        work, SMALL_DATABASE, quarter, endpoint, options.incrementals
    )
    small = measure_all(
        options, small_env, small_full, endpoint, work / SMALL_DATABASE, rows,
        suffix=f", {quarter:,} messages",
    )  # fmt: skip
    print()
    print(
        table(
            rows,
            f"Moving and re-encrypting the backups of {options.messages:,} messages "
            f"(a full and {options.incrementals} incrementals; median of "
            f"{options.runs})",
        )
    )
    print()
    print(f"At the end: {load_line()} (1, 5, 15 minutes)")
    return verdicts(measured, small)


def measure_all(options, env, full, endpoint, data_dir, rows, suffix=""):
    backups_dir = data_dir / "backups"
    total = sum(p.stat().st_size for p in backups_dir.rglob("*") if p.is_file())

    def record(name, result, times, size, own=None):
        rows.append(
            (
                name + suffix,
                f"{result.seconds:.2f}",
                "" if own is None else f"{own:.2f}",
                mib(result.peak_mib),
                "" if size is None else megabytes(size),
                " ".join(f"{t:.2f}" for t in times),
            )
        )

    def reset():
        empty_bucket(endpoint)
        manage(env, "shell", "-c", BACK_TO_FILES)

    # Each pair runs side by side, a run of each in turn (the fresh backups
    # join the catalog: they are made after the migrations).
    moves = alternately(
        options.runs,
        {
            "plain": (
                [sys.executable, "-c", PLAIN_UPLOAD, str(backups_dir), BUCKET],
                reset,
            ),
            "migrate": ([*MANAGE, "migrate_backups", "--to", "s3", "--json"], reset),
        },
        env,
    )
    plain, times = moves["plain"]
    record("plain boto3 upload_file", plain, times, total, plain.json()["seconds"])
    migrate, times = moves["migrate"]
    record("ours: migrate_backups --to s3", migrate, times, total,
           migrate.json()["seconds"])  # fmt: skip
    assert migrate.json()["status"] == "completed", migrate.stdout
    rewrites = alternately(
        options.runs,
        {
            "fresh": ([*MANAGE, "create_backup", "--json"], None),
            "convert": (
                [*MANAGE, "convert_backups", "--ids", full, "--reencrypt", "--json"],
                lambda: manage(env, "shell", "-c", BACK_TO_FILES),  # on files
            ),
        },
        env,
    )
    fresh, times = rewrites["fresh"]
    record("ours: fresh full backup", fresh, times, fresh.json()["size_bytes"],
           fresh.json()["seconds"])  # fmt: skip
    convert, times = rewrites["convert"]
    assert convert.json()["converted"] == [full], convert.stdout
    record("ours: convert_backups --reencrypt (full)", convert, times, None,
           convert.json()["seconds"])  # fmt: skip
    return {"plain": plain, "migrate": migrate, "fresh": fresh, "convert": convert}


def verdicts(big: dict, small: dict) -> int:
    def own(name: str) -> float:
        return big[name].json()["seconds"]

    checks = [
        ("migration / plain upload, wall (each with its start-up)",
         big["migrate"].seconds / big["plain"].seconds, 1.5),
        ("re-encryption / fresh full backup, wall",
         big["convert"].seconds / big["fresh"].seconds, 1.5),
        ("migration / plain upload, own time",
         own("migrate") / own("plain"), None),
        ("re-encryption / fresh full backup, own time",
         own("convert") / own("fresh"), None),
        ("peak RSS of the migration (MiB)", big["migrate"].peak_mib, 150),
        ("peak RSS of the re-encryption (MiB)", big["convert"].peak_mib, 150),
        ("peak RSS of the migration, full / quarter data",
         big["migrate"].peak_mib / small["migrate"].peak_mib, 1.25),
        ("peak RSS of the re-encryption, full / quarter data",
         big["convert"].peak_mib / small["convert"].peak_mib, 1.25),
    ]  # fmt: skip
    rows = [("target", "measured", "goal", "")]
    passed = True
    for name, value, limit in checks:
        if limit is None:
            rows.append((name, f"{value:.2f}", "(info)", ""))
            continue
        ok = value <= limit
        passed = passed and ok
        rows.append((name, f"{value:.2f}", f"<= {limit}", "PASS" if ok else "FAIL"))
    print(table(rows, "Targets (issue 16)"))
    return 0 if passed else 1


def machine_line() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    memory = next(
        (
            int(line.split()[1]) / 1024 / 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), {memory:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}; S3: moto_server on this machine; cwd {ROOT.name}; "
        f"{load_line()}"
    )


def load_line() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
