"""Every command of the README refuses bad input the way DESIGN promises.

Each case runs ``manage.py`` as an operator would, in its own process, against
one small instance (a database of the suite's engine, a data directory with a
backup in it) and checks: a non-zero exit, the reason on one line of stderr,
no traceback, and nothing changed (row counts of every table, the files of
the data directory and of the folder the cases write into).

The cases' processes are forked from one that has started Django (``FORKER``):
each is still a process of its own, with its own exit status, stdout, stderr
and database connection, but the fifty of them share one start-up.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
USER = "seed_user_00001"
KEYS = "k1:" + base64.b64encode(b"\x01" * 32).decode()
PG_ADMIN = {"host": "127.0.0.1", "user": "postgres", "dbname": "postgres"}

# (arguments, what the one line of stderr must say). {backup} is the id of
# the instance's backup, {out} a folder outside the data directory holding
# one file, taken.zip.
CASES: list[tuple[list[str], str]] = [
    (["seed_messaging", "--users", "-3"], "--users must be a whole number"),
    (["seed_messaging", "--messages", "many"], "invalid int value: 'many'"),
    (["seed_messaging", "--anchor", "yesterday"], "is not a date"),
    (["seed_messaging", "--users", "2"], "already hold data"),
    (["create_backup", "--user", "nobody"], "no user named 'nobody'"),
    (["create_backup", "--types", "messages,photos"], "unknown data type(s) photos"),
    (["create_backup", "--incremental", "--types", "messages"], "--types applies"),
    (["list_backups", "--limit", "-1"], "'-1' is not a whole number, 0 or more"),
    (["list_backups", "--rebuild-catalog"], "goes with --from-storage"),
    (["list_backups", "--user", "nobody"], "no user named 'nobody'"),
    (["verify_backup"], "give backup ids or --all"),
    (["verify_backup", "backup_nope"], "no backup 'backup_nope'"),
    (["verify_backup", "--all", "{backup}"], "give backup ids or --all"),
    (["expire_backups", "--keep-within", "bogus"], "'bogus' is not a duration"),
    (["expire_backups", "--keep-last", "-1"], "'-1' is not a whole number"),
    (["expire_backups", "--keep-last", "0", "--noinput"], "no keep rule given"),
    (["rotate_keys", "--new-key-file", "{out}/missing/new.key"], "does not exist"),
    (["rotate_keys", "--new-key-file", "/sys/new.key"], "Permission denied"),
    (["rotate_keys", "--new-key-file", "{out}/taken.zip"], "exists"),
    (
        ["rotate_keys", "--new-key-file", "{out}/new.key", "--key-id", "bad id"],
        "a key id is",
    ),
    (["rotate_keys", "--retire", "k-unknown"], "'k-unknown' is not in"),
    (["restore_backup"], "give the ID of the backup"),
    (["restore_backup", "backup_nope", "--dry-run"], "'backup_nope' is neither"),
    (["restore_backup", "{backup}", "--types", "photos"], "unknown data type"),
    (["restore_backup", "{backup}", "--user", "nobody"], "no user named"),
    (["restore_backup", "--rollback", "999"], "no recovery run 999"),
    (["restore_backup", "--rollback", "last"], "invalid int value: 'last'"),
    (
        ["export_data", "--user", "nobody", "--format", "json", "--output", "{out}"],
        "no user named 'nobody'",
    ),
    (
        ["export_data", "--user", USER, "--format", "xml", "--output", "{out}"],
        "invalid choice: 'xml'",
    ),
    (
        ["export_data", "--user", USER, "--format", "json"],
        "the following arguments are required: --output",
    ),
    (
        ["export_data", "--user", USER, "--format", "json", "--output", "{out}/no/x"],
        "the folder",
    ),
    (
        ["export_data", "--user", USER, "--format", "json", "--output", "/sys/x.zip"],
        "Permission denied",
    ),
    (
        [
            "export_data",
            "--user",
            USER,
            "--format",
            "json",
            "--output",
            "{out}/taken.zip",
        ],
        "already exists",
    ),
    (["apply_retention", "--restore-batch", "999"], "archive batch 999 does not exist"),
    (["apply_retention", "--restore-batch", "abc"], "invalid int value: 'abc'"),
    (
        ["import_export", "{out}/missing.zip", "--user", USER],
        "not a readable export",
    ),
    (["import_export"], "the following arguments are required: PATH, --user"),
    (
        ["migrate_data", "--from-backup", "{backup}"],
        "one of the arguments --to-database --to-export is required",
    ),
    (
        [
            "migrate_data",
            "--from-backup",
            "{backup}",
            "--to-database",
            "sqlite:///{out}/target.db",
            "--rules",
            "{out}/missing.json",
        ],
        "missing.json: No such file or directory",
    ),
    (["migrate_backups", "--to", "ftp"], "invalid choice: 'ftp'"),
    (["migrate_backups"], "the following arguments are required: --to"),
    (
        ["convert_backups", "--all", "--compression-level", "99"],
        "--compression-level must be between -7 and 19",
    ),
    (["convert_backups", "--ids", "backup_nope"], "no completed backup backup_nope"),
    (["check_health", "--fast"], "unrecognized arguments: --fast"),
    (
        ["run_restore_drill", "backup_nope"],
        "backup 'backup_nope' is neither in the catalog nor in the backup storage",
    ),
    (["run_maintenance", "--optimise"], "unrecognized arguments: --optimise"),
    (["setup_schedules", "--every", "5m"], "unrecognized arguments: --every 5m"),
    (["verify_audit_log", "--repair"], "unrecognized arguments: --repair"),
    (["setup_demo", "--users", "3"], "unrecognized arguments: --users 3"),
]


# Reads one JSON list of arguments a line; for each, forks a process that
# runs manage.py's main() with them, and answers with a JSON line: its exit
# status, stdout and stderr. Django is set up once, before the first fork,
# with no database connection open.
FORKER = r"""
import json, os, sys, tempfile, traceback
import manage
manage._set_up_django()
from django.db import connections
connections.close_all()
answers = sys.stdout
for line in sys.stdin:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        answers.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # not the requests
            sys.stdin = open(0, closefd=False)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.argv = ["manage.py", *json.loads(line)]
            code = 0
            try:
                manage.main()
            except SystemExit as exc:
                if isinstance(exc.code, str):
                    sys.stderr.write(exc.code + "\n")
                code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(code))
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        answers.write(json.dumps({
            "code": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }) + "\n")
        answers.flush()
"""


@dataclass
class Instance:
    """A migrated database with data and one backup, and its environment."""

    env: dict[str, str]
    data_dir: Path
    out: Path
    backup: str
    sqlite_path: Path | None
    pg_name: str | None
    forker: subprocess.Popen | None = None

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def forked(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``manage.py args`` in a process forked from the started forker."""
        if self.forker is None:
            self.forker = subprocess.Popen(
                [sys.executable, "-c", FORKER],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        self.forker.stdin.write(json.dumps(args) + "\n")
        self.forker.stdin.flush()
        answer = self.forker.stdout.readline()
        assert answer, "the forker stopped"
        done = json.loads(answer)
        return subprocess.CompletedProcess(
            ["manage.py", *args], done["code"], done["stdout"], done["stderr"]
        )

    def stop(self) -> None:
        if self.forker is not None:
            self.forker.stdin.close()
            self.forker.wait(timeout=60)

    def state(self) -> dict:
        """Row counts of every table, and the files the commands could touch."""
        files = {
            str(path): path.stat().st_size
            for folder in (self.data_dir, self.out)
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        return {"rows": self._row_counts(), "files": files}

    def _row_counts(self) -> dict[str, int]:
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as db:
                names = [
                    row[0]
                    for row in db.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'"
                    )
                ]
                return {
                    name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                    for name in names
                }
        import psycopg

        with psycopg.connect(**(PG_ADMIN | {"dbname": self.pg_name})) as db:
            names = [
                row[0]
                for row in db.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            return {
                name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in names
            }


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs")
    data_dir, out = root / "data", root / "out"
    data_dir.mkdir()
    out.mkdir()
    (out / "taken.zip").write_bytes(b"an earlier export")
    sqlite_path, pg_name = None, None
    if connection.vendor == "postgresql":
        import psycopg

        pg_name = f"{connection.settings_dict['NAME']}_cli_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
    else:
        sqlite_path = root / "instance.sqlite3"
        url = f"sqlite:///{sqlite_path}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TALOWA_", "DATABASE_URL", "AWS_"))
    } | {
        "DATABASE_URL": url,
        "TALOWA_DATA_DIR": str(data_dir),
        "TALOWA_BACKUP_KEYS": KEYS,
        "TALOWA_LOG_LEVEL": "warning",
    }
    made = Instance(env, data_dir, out, "", sqlite_path, pg_name)
    try:
        for args in (
            ["migrate", "-v0"],
            ["seed_messaging", "--users", "3", "--conversations", "2"]
            + ["--messages", "12", "--calls", "2", "--media", "1"],
        ):
            result = made.manage(*args)
            assert result.returncode == 0, result.stderr
        result = made.manage("create_backup")
        assert result.returncode == 0, result.stderr
        made.backup = result.stdout.strip()
        yield made
    finally:
        made.stop()
        if pg_name:
            import psycopg

            with psycopg.connect(**PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def readme_commands() -> set[str]:
    """The command names of the README's command table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)", table, flags=re.MULTILINE))


def test_every_readme_command_has_bad_inputs():
    listed = readme_commands()
    assert len(listed) >= 10
    assert listed <= {args[0] for args, _reason in CASES}


@pytest.mark.parametrize(
    ("args", "reason"), CASES, ids=[" ".join(args) for args, _ in CASES]
)
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(instance, args, reason):
    before = instance.state()
    given = [a.format(backup=instance.backup, out=instance.out) for a in args]
    result = instance.forked(*given)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert reason in lines[0]
    assert result.stdout == ""
    assert instance.state() == before


# A bug, not a bad input: list_backups' selector raises what no one expected.
BROKEN_LIST = """
import sys
import django
django.setup()
from backups.management.commands import list_backups
def broken(**kwargs):
    raise ValueError("a bug in the selector")
list_backups.get_backup_history = broken
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "list_backups", *sys.argv[1:]])
"""


def test_a_bug_is_one_line_and_traceback_shows_it(instance):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", BROKEN_LIST, *args],
            cwd=ROOT,
            env=instance.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    plain = run()
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1, plain.stderr
    assert "ValueError: a bug in the selector" in lines[0]
    assert "--traceback" in lines[0]
    detailed = run("--traceback")
    assert detailed.returncode != 0
    assert "Traceback (most recent call last)" in detailed.stderr
