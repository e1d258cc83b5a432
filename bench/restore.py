"""Benchmark restores against ``pg_restore``, side by side in one run.

    .venv/bin/python bench/restore.py [--messages 1000000] [--runs 3]

Seeds a scratch PostgreSQL database (1,000,000 messages by default), takes our
full backup and a ``pg_dump -Fc`` of the same tables, then measures, each in
its own subprocess and into a fresh database: our full restore
(``restore_backup``, which finds the backup in the storage: the new database
has no catalog) against ``pg_restore --jobs=1``. Then the restore of one user
(about 500 messages) into the full database. Our database is migrated before
the clock starts (the schema is Django's); pg_restore creates its own. Prints
wall seconds (median of ``--runs``), the restore step's own seconds, peak RSS
and the issue's ratios. Last, it changes the restored database and kills two
restores part-way (during the load and near its end) to show that every table
is left exactly as it was at this scale too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    TABLES,
    environment,
    manage,
    measure,
    median,
    mib,
    recreate_database,
    scratch_work,
    seed,
    table,
    touch_one_percent,
)

SOURCE = "talowa_bench_restore"
TARGET = "talowa_bench_restore_target"
PG_TARGET = "talowa_bench_pg_restore"


def main() -> int:
    options = parse_args()
    databases = (SOURCE, TARGET, PG_TARGET)
    with scratch_work("restore", databases, keep=options.keep) as work:
        return run(options, work)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def step_seconds(run: dict, action: str) -> float:
    return next(s.get("seconds", 0.0) for s in run["steps"] if s["action"] == action)


def run(options: argparse.Namespace, work: Path) -> int:
    data_dir = work / "data"
    env = environment(data_dir, recreate_database(SOURCE))
    print(f"Seeding {options.messages:,} messages ...", flush=True)
    manage(env, "migrate", "-v0")
    seed(env, options.messages)
    full_id = json.loads(manage(env, "create_backup", "--json"))["id"]
    dump = work / "dump.fc"
    measure(
        [f"pg_dump -Fc {' '.join(f'-t {t}' for t in TABLES)} -f {dump} {SOURCE}"],
        env,
        shell=True,
    )

    # The tables' delete triggers call functions that -t does not dump:
    # leave them out of pg_restore's list (our restore keeps them).
    listing = work / "dump.list"
    listing.write_text(
        "\n".join(
            line
            for line in manage_pg_restore_list(dump).splitlines()
            if " TRIGGER " not in line
        )
    )

    ours, ours_step, theirs = [], [], []
    for _ in range(options.runs):
        target_env = environment(data_dir, recreate_database(TARGET))
        manage(target_env, "migrate", "-v0")
        restored = measure(
            [
                *MANAGE,
                "restore_backup",
                full_id,
                "--noinput",
                "--no-pre-restore-backup",
                "--json",
            ],
            target_env,
        )
        ours.append(restored)
        ours_step.append(step_seconds(restored.json(), "restore"))
        recreate_database(PG_TARGET)
        theirs.append(
            measure(
                [f"pg_restore --jobs=1 -L {listing} -d {PG_TARGET} {dump}"],
                env,
                shell=True,
            )
        )
    last_run = ours[-1].json()

    # Atomic at this scale: change the restored database, then kill restores
    # of the backup part-way through the load and near its end; every table
    # must be as it was. A restore that committed before its kill undid the
    # change: that run tests nothing (on small data sets the kill comes late).
    print("Killing restores part-way ...", flush=True)
    restored = _checksums(target_env)
    manage(target_env, "shell", "-c", touch_one_percent(7))
    before = _checksums(target_env)
    started = 0.6 + step_seconds(last_run, "verify_chain")  # Python, Django, verify
    kills = []
    for fraction in (0.4, 0.95):
        after = round(started + median(ours_step) * fraction, 1)
        if not _kill_restore_after(target_env, full_id, after):
            kills.append((after, None))  # it finished first
            continue
        state = _checksums(target_env)
        kills.append((after, None if state == restored else state == before))

    user_id = _user_with_messages(env, 500)
    user_backup = json.loads(manage(env, "create_backup", "--user", user_id, "--json"))[
        "id"
    ]
    users, user_step = [], []
    for _ in range(options.runs):
        restored = measure(
            [
                *MANAGE,
                "restore_backup",
                user_backup,
                "--noinput",
                "--no-pre-restore-backup",
                "--json",
            ],
            env,
        )
        users.append(restored)
        user_step.append(step_seconds(restored.json(), "restore"))

    def mid(results):
        return sorted(results, key=lambda m: m.seconds)[len(results) // 2]

    rows = [("step", "wall s", "restore step s", "peak RSS MiB", "runs (wall s)")]
    rows.append(
        (
            "ours: full restore into an empty database",
            f"{mid(ours).seconds:.2f}",
            f"{median(ours_step):.2f}",
            mib(max(m.peak_mib for m in ours)),
            " ".join(f"{m.seconds:.2f}" for m in ours),
        )
    )
    rows.append(
        (
            "pg_restore --jobs=1 (pg_dump -Fc)",
            f"{mid(theirs).seconds:.2f}",
            "",
            mib(max(m.peak_mib for m in theirs)),
            " ".join(f"{m.seconds:.2f}" for m in theirs),
        )
    )
    rows.append(
        (
            f"ours: one user ({user_id}) into the full database",
            f"{mid(users).seconds:.2f}",
            f"{median(user_step):.2f}",
            mib(max(m.peak_mib for m in users)),
            " ".join(f"{m.seconds:.2f}" for m in users),
        )
    )
    print()
    print(
        table(
            rows,
            f"Restores of {options.messages:,} messages on PostgreSQL "
            f"(median of {options.runs})",
        )
    )
    print(
        "Steps of our last full restore: "
        + ", ".join(
            f"{s['action']} {s.get('seconds', 0):.2f} s" for s in last_run["steps"]
        )
    )
    print()
    ratio_wall = mid(ours).seconds / mid(theirs).seconds
    checks = [
        *(
            (
                f"restore killed after {after} s: every table unchanged (1 = yes)"
                + (" - it had finished, no test" if unchanged is None else ""),
                float(bool(unchanged)),
                "= 1",
                unchanged,
            )
            for after, unchanged in kills
        ),
        (
            "full restore / pg_restore --jobs=1 (wall, with verify + validation)",
            ratio_wall,
            "<= 1.0",
            ratio_wall <= 1.0,
        ),
        (
            "one user's restore step (s)",
            median(user_step),
            "<= 1.0",
            median(user_step) <= 1.0,
        ),
        (
            "peak RSS of our restores (MiB)",
            max(m.peak_mib for m in ours + users),
            "<= 200",
            max(m.peak_mib for m in ours + users) <= 200,
        ),
    ]
    rows = [("target", "measured", "goal", "")]
    rows += [
        (n, f"{v:.2f}", g, "n/a" if ok is None else "PASS" if ok else "FAIL")
        for n, v, g, ok in checks
    ]
    print(table(rows, "Targets"))
    return 0 if all(ok is not False for *_r, ok in checks) else 1


def _kill_restore_after(env: dict[str, str], backup_id: str, seconds: float) -> bool:
    """Start a restore and SIGKILL it after ``seconds``; False if it ended first."""
    import signal
    import subprocess
    import time

    child = subprocess.Popen(
        [*MANAGE, "restore_backup", backup_id, "--noinput", "--no-pre-restore-backup"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    if child.poll() is not None:
        return False
    child.send_signal(signal.SIGKILL)
    child.wait()
    return True


def _checksums(env: dict[str, str]) -> str:
    """An MD5 of every messaging table's rows, in id order."""
    script = "\n".join(
        [
            "from django.db import connection",
            "with connection.cursor() as c:",
            f"    for t in {TABLES[1:]!r}:",
            "        c.execute(f'SELECT md5(string_agg(x::text, chr(10) ORDER BY "
            "x.id)) FROM {t} x')",
            "        print(t, c.fetchone()[0])",
        ]
    )
    return manage(env, "shell", "-c", script)


def manage_pg_restore_list(dump: Path) -> str:
    import subprocess

    return subprocess.run(
        ["pg_restore", "-l", str(dump)], check=True, capture_output=True, text=True
    ).stdout


def _user_with_messages(env: dict[str, str], wanted: int) -> str:
    """Return the username whose message count is nearest ``wanted``."""
    out = manage(
        env,
        "shell",
        "-c",
        (
            "from django.db import connection; c = connection.cursor(); "
            "c.execute('SELECT u.username FROM messaging_message m JOIN auth_user u ON "
            f"u.id = m.sender_id GROUP BY u.username ORDER BY abs(count(*) - {wanted}) "
            "LIMIT 1'); print(c.fetchone()[0])"
        ),
    )
    return out.strip().splitlines()[-1]  # shell may print a banner first


if __name__ == "__main__":
    sys.exit(main())
