"""Benchmark restores against ``pg_restore``, side by side in one run.

    .venv/bin/python bench/restore.py [--messages 1000000] [--runs 3]

Seeds a scratch PostgreSQL database (1,000,000 messages by default), takes our
full backup and a ``pg_dump -Fc`` of the same tables, then measures, each in
its own subprocess and into a fresh, empty database: our full restore against
``pg_restore --jobs=1`` and ``pg_restore --jobs=2``. Ours restores with two
COPY lanes and an index builder, so ``--jobs=2`` is the fair yardstick; both
are shown. Our time includes ``migrate`` of the empty database (Django
creates the schema, as ``pg_restore`` does from its dump), and the restore
runs as after a disaster: with a data directory of its own (empty ``media/``,
so every media file is written, not found), the keys given in
``TALOWA_BACKUP_KEYS`` and the backup store alone (the new database has no
catalog; ``restore_backup`` finds the backup in the storage). Then the
restore of one user (about 500 messages) into the full database. Prints the
machine and the data size, wall seconds (median of ``--runs``), the restore
step's own seconds (load and swap, up to the commit; the run's next step,
which archives restored rows already past their retention, is in the wall
time and printed with the steps), peak RSS and the issue's ratios. Because
``pg_restore`` archives nothing, each turn also restores into a second empty
target with ``--keep-past-retention`` (no retention step): that row is the
same work as ``pg_restore``'s, and its ratio is printed beside the others.

Last, it changes the restored database and kills restores part-way (during
the load and near its end). Each kill is timed from the moment the recovery
run records its restore step as running, and judged by what the run recorded
in the restore's own transaction: a run whose record has no ``applied_at``
was killed before the data change committed, and then every table must be
left exactly as it was. A kill after the commit (or after the restore ended)
tests no atomicity: every table must then be exactly in the backup's state
(the source database's, whose tables the backup holds), it is reported as
such, and an earlier kill is tried (half the delay, four tries in all); the
row fails if none lands before the commit. These restores keep the rows past
their retention (``--keep-past-retention``): re-archiving them is the run's
next step, in batches that each commit on their own (the rest is left for
the next cleanup), not part of the restore's all-or-nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    MANAGE,
    TABLES,
    data_size,
    environment,
    machine,
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
PG_JOBS = (1, 2)
KILL_TRIES = 4  # kills per row, until one lands before the restore's commit
RESTORE_RUNS = "SELECT id, steps, applied_at FROM recovery_recoveryrun "
# When a kill landed, and the state it left the tables in.
BEFORE_COMMIT, AFTER_COMMIT, AFTER_END = (
    "before its commit",
    "after its commit",
    "after the restore ended",
)
UNCHANGED, BACKUP_STATE, NEITHER = (
    "every table unchanged",
    "every table in the backup's state",
    "tables neither unchanged nor in the backup's state",
)


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
    machine_line = machine()  # its load average before the work
    data_dir = work / "data"
    env = environment(data_dir, recreate_database(SOURCE))
    print(f"Seeding {options.messages:,} messages ...", flush=True)
    manage(env, "migrate", "-v0")
    seed(env, options.messages)
    size = data_size(env)
    full_id = json.loads(manage(env, "create_backup", "--json"))["id"]
    backup_state = _checksums(env)  # the source's tables are the backup's
    # The keys travel apart from the backups, as after a disaster.
    keys = (data_dir / "backup-dev.key").read_text().strip()
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

    ours, kept, ours_step, media_written = [], [], [], []
    theirs: dict[int, list] = {jobs: [] for jobs in PG_JOBS}
    restore = [*MANAGE, "restore_backup", full_id, "--noinput"]
    restore += ["--no-pre-restore-backup", "--json"]
    for turn in range(options.runs):
        target_dir = work / f"target-{turn}"
        target_env = empty_target(target_dir, data_dir, keys)
        migrated = measure([*MANAGE, "migrate", "-v0"], target_env)
        restored = measure(restore, target_env)
        ours.append((migrated, restored))
        ours_step.append(step_seconds(restored.json(), "restore"))
        media_written.append(_files(target_dir / "media"))
        # Like with like: pg_restore archives nothing, so restore once more
        # keeping the rows past their retention (no "retention" step).
        target_env = empty_target(work / f"target-{turn}-kept", data_dir, keys)
        migrated = measure([*MANAGE, "migrate", "-v0"], target_env)
        kept.append(
            (migrated, measure([*restore, "--keep-past-retention"], target_env))
        )
        for jobs in PG_JOBS:
            recreate_database(PG_TARGET)
            theirs[jobs].append(
                measure(
                    [f"pg_restore --jobs={jobs} -L {listing} -d {PG_TARGET} {dump}"],
                    env,
                    shell=True,
                )
            )
    last_run = ours[-1][1].json()
    kills = kill_restores(target_env, full_id, median(ours_step), backup_state)

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

    def mid_pair(pairs):
        return sorted(pairs, key=lambda pair: pair[0].seconds + pair[1].seconds)[
            len(pairs) // 2
        ]

    ours_mid = mid_pair(ours)
    ours_wall = ours_mid[0].seconds + ours_mid[1].seconds
    kept_mid = mid_pair(kept)
    kept_wall = kept_mid[0].seconds + kept_mid[1].seconds
    rows = [("step", "wall s", "restore step s", "peak RSS MiB", "runs (wall s)")]
    rows.append(
        (
            "ours: migrate + full restore into an empty database",
            f"{ours_wall:.2f}",
            f"{median(ours_step):.2f}",
            mib(max(max(m.peak_mib, r.peak_mib) for m, r in ours)),
            " ".join(f"{m.seconds + r.seconds:.2f}" for m, r in ours),
        )
    )
    rows.append(
        (
            "  of which migrate of the empty database",
            f"{ours_mid[0].seconds:.2f}",
            "",
            mib(max(m.peak_mib for m, _ in ours)),
            " ".join(f"{m.seconds:.2f}" for m, _ in ours),
        )
    )
    rows.append(
        (
            "ours: the same, keeping rows past retention",
            f"{kept_wall:.2f}",
            f"{median([step_seconds(r.json(), 'restore') for _, r in kept]):.2f}",
            mib(max(max(m.peak_mib, r.peak_mib) for m, r in kept)),
            " ".join(f"{m.seconds + r.seconds:.2f}" for m, r in kept),
        )
    )
    for jobs in PG_JOBS:
        rows.append(
            (
                f"pg_restore --jobs={jobs} (pg_dump -Fc)",
                f"{mid(theirs[jobs]).seconds:.2f}",
                "",
                mib(max(m.peak_mib for m in theirs[jobs])),
                " ".join(f"{m.seconds:.2f}" for m in theirs[jobs]),
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
    print(machine_line)
    print(size)
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
        + f"; media files it wrote into its empty data directory: {media_written} "
        f"(the source's: {_files(data_dir / 'media')})"
    )
    print()
    peak = max(m.peak_mib for pair in ours for m in pair)
    peak = max(peak, *(m.peak_mib for m in users))
    checks = [
        *kills,
        *(
            (
                f"ours (migrate + restore) / pg_restore --jobs={jobs}, wall",
                ours_wall / mid(theirs[jobs]).seconds,
                "<= 1.0",
                ours_wall / mid(theirs[jobs]).seconds <= 1.0,
            )
            for jobs in PG_JOBS
        ),
        (
            "one user's restore step (s)",
            median(user_step),
            "<= 1.0",
            median(user_step) <= 1.0,
        ),
        (
            "ours keeping rows past retention / pg_restore --jobs=2, wall",
            kept_wall / mid(theirs[2]).seconds,
            "(info)",
            None,
        ),
        (
            "our restore step / pg_restore --jobs=2, wall",
            median(ours_step) / mid(theirs[2]).seconds,
            "(info)",
            None,
        ),
        (
            "ours without migrate / pg_restore --jobs=2, wall",
            ours_mid[1].seconds / mid(theirs[2]).seconds,
            "(info)",
            None,
        ),
        ("peak RSS of our restores (MiB)", peak, "<= 200", peak <= 200),
    ]
    rows = [("target", "measured", "goal", "")]
    rows += [
        (n, f"{v:.2f}", g, "" if ok is None else "PASS" if ok else "FAIL")
        for n, v, g, ok in checks
    ]
    print(table(rows, "Targets"))
    return 0 if all(ok is not False for *_r, ok in checks) else 1


def empty_target(target_dir: Path, source_dir: Path, keys: str) -> dict[str, str]:
    """A new, empty database and data directory that reach the backup store.

    The backup store (hard links to the source's objects: no copying time) is
    the only thing shared with the source, as an S3 bucket would be; media,
    exports and keys are not.
    """
    target_dir.mkdir(parents=True)
    shutil.copytree(
        source_dir / "backups", target_dir / "backups", copy_function=os.link
    )
    return environment(target_dir, recreate_database(TARGET)) | {
        "TALOWA_BACKUP_KEYS": keys
    }


def _files(directory: Path) -> int:
    return sum(1 for path in directory.rglob("*") if path.is_file())


def kill_restores(env, backup_id, restore_seconds, backup_state) -> list[tuple]:
    """Kill restores part-way; return the atomicity rows of the targets.

    For each planned moment, kills until one lands before the restore's
    commit (at half the delay each time, up to ``KILL_TRIES``). A kill
    before the commit must leave every table unchanged; one after it, every
    table in ``backup_state``. Prints which state each kill left.
    """
    print("Killing restores part-way ...", flush=True)
    rows = []
    for fraction in (0.4, 0.95):
        delay = round(restore_seconds * fraction, 2)
        kills = []
        for _ in range(KILL_TRIES):
            manage(env, "shell", "-c", touch_one_percent(7))
            before = _checksums(env)
            moment = _kill_during_restore_step(env, backup_id, delay)
            after = _checksums(env)
            state = {before: UNCHANGED, backup_state: BACKUP_STATE}.get(after, NEITHER)
            print(f"  killed {delay} s into the restore step, {moment}: {state}")
            kills.append((delay, moment, state))
            if moment == BEFORE_COMMIT:
                break
            delay = round(delay / 2, 3)
        rows += _kill_rows(kills)
    return rows


def _kill_rows(kills: list[tuple[float, str, str]]) -> list[tuple]:
    """The rows of one planned kill and the earlier ones it took."""
    rows = []
    late = [(delay, state) for delay, moment, state in kills if moment != BEFORE_COMMIT]
    if late:
        held = all(state == BACKUP_STATE for _d, state in late)
        delays = ", ".join(str(d) for d, _s in late)
        rows.append(
            (
                f"restore killed after its commit ({delays} s into its restore "
                "step): every table in the backup's state (1 = yes)",
                float(held),
                "= 1",
                held,
            )
        )
    delay, moment, state = kills[-1]
    if moment != BEFORE_COMMIT:
        tried = ", ".join(str(d) for d, _m, _s in kills)
        name = f"no kill landed before the restore's commit (tried {tried} s)"
        return [*rows, (name, 0.0, "= 1", False)]
    held = state == UNCHANGED
    name = (
        f"restore killed {delay} s into its restore step, before its commit: "
        "every table unchanged (1 = yes)"
    )
    return [(name, float(held), "= 1", held), *rows]


def _kill_during_restore_step(env: dict[str, str], backup_id: str, delay: float):
    """Start a restore, SIGKILL it ``delay`` s into its restore step.

    Returns when the kill landed, as the recovery run's own record says:
    ``BEFORE_COMMIT``, ``AFTER_COMMIT`` (its ``applied_at``, written in the
    transaction that changes the data, is set) or ``AFTER_END``.
    """
    import signal
    import subprocess
    import time

    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
        newest = db.execute(RESTORE_RUNS + "ORDER BY id DESC LIMIT 1").fetchone()
        child = subprocess.Popen(
            [
                *MANAGE,
                "restore_backup",
                backup_id,
                "--noinput",
                "--no-pre-restore-backup",
                "--keep-past-retention",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def record() -> tuple:
            row = db.execute(
                RESTORE_RUNS + "WHERE id > %s ORDER BY id DESC LIMIT 1",
                (newest[0] if newest else 0,),
            ).fetchone()
            return row or (None, [], None)

        def restore_step() -> str:
            steps = record()[1]
            return next((s["status"] for s in steps if s["action"] == "restore"), "")

        while restore_step() != "running":
            if child.poll() is not None:
                return AFTER_END
            time.sleep(0.01)
        time.sleep(delay)
        if child.poll() is not None:
            return AFTER_END
        child.send_signal(signal.SIGKILL)
        child.wait()
        return AFTER_COMMIT if record()[2] else BEFORE_COMMIT


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
