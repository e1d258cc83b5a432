"""Faults on purpose: a killed worker, concurrent writers, wrong keys."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from backups.models import Backup
from backups.services import create_full_backup, create_incremental_backup
from backups.storage import PARTIAL_MARKER, object_store
from messaging.models import Message
from talowa_admin.liveness import HOST
from tests.backups.conftest import HINDI
from tests.recovery.conftest import TEMPLATES

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: a full backup whose writer is slowed down, so the
# parent can kill it mid-way. The slowdown is the test's, not the product's.
SLOW_BACKUP = """
import time, django
django.setup()
from backups.archive import ArchiveWriter
original = ArchiveWriter.write
def slow(self, data):
    time.sleep(0.05)
    return original(self, data)
ArchiveWriter.write = slow
from backups.services import create_full_backup
create_full_backup()
"""


def child_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, TALOWA_DATA_DIR=str(data_dir), TALOWA_LOG_LEVEL="warning")
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{data_dir / 'child.sqlite3'}"
    return env


@contextlib.contextmanager
def killed_child(
    env: dict[str, str], script: str, *args: str
) -> Iterator[subprocess.Popen]:
    """Run Python ``script`` in a child process; SIGKILL it when the block ends."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)


def wait_until(child: subprocess.Popen, done: Callable[[], bool], why: str) -> None:
    """Wait up to a minute for ``done()`` while ``child`` runs; else fail: ``why``."""
    deadline = time.monotonic() + 60
    while not done():
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline, why
        time.sleep(0.05)


def give_the_child_a_database(env: dict[str, str]) -> None:
    """On SQLite, give ``child_env``'s processes a migrated database of their own.

    A child cannot see this test's in-memory database; on PostgreSQL it uses
    the test database itself.
    """
    if connection.vendor == "sqlite":
        TEMPLATES.copy_into("sqlite", env["DATABASE_URL"].removeprefix("sqlite:///"))


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_killed_backup_leaves_nothing_that_looks_finished(data_dir, settings):
    env = child_env(data_dir)
    give_the_child_a_database(env)
    seeded = run_manage(
        env,
        "seed_messaging",
        "--users",
        "20",
        "--conversations",
        "40",
        "--messages",
        "20000",
        "--calls",
        "100",
        "--media",
        "20",
        "--noinput",
    )
    assert seeded.returncode == 0, seeded.stderr
    archives = data_dir / "backups" / "archives"
    with killed_child(env, SLOW_BACKUP) as child:
        wait_until(
            child,
            lambda: any(PARTIAL_MARKER in p.name for p in archives.glob("*")),
            "the backup never started writing",
        )
    finished = [p for p in archives.glob("*") if PARTIAL_MARKER not in p.name]
    assert finished == []
    # The next listing finds the worker's process gone: the backup failed, and
    # its partial file is removed.
    (listed,) = json.loads(run_manage(env, "list_backups", "--json").stdout)["backups"]
    assert listed["status"] == "failed"
    assert listed["error"].startswith(f"worker died: {HOST}:{child.pid} stopped")
    assert list(archives.glob("*")) == []
    again = run_manage(env, "create_backup", "--json")
    assert again.returncode == 0, again.stderr
    listed = run_manage(env, "list_backups", "--json").stdout
    assert listed.count('"status": "failed"') == 1
    assert listed.count('"status": "completed"') == 1


# Runs in a child process: a full backup that stops after its first section,
# says so, and goes on once the parent creates the file named by argv[1].
PAUSED_BACKUP = """
import sys, time
from pathlib import Path
import django
django.setup()
from backups.archive import ArchiveWriter
original = ArchiveWriter.end_section
def pause_once(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    if not getattr(ArchiveWriter, "paused", False):
        ArchiveWriter.paused = True
        print("WRITING", flush=True)
        deadline = time.monotonic() + 120
        while not Path(sys.argv[1]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return result
ArchiveWriter.end_section = pause_once
from backups.services import create_full_backup
print(create_full_backup(), flush=True)
"""


def test_two_backups_of_one_scope_at_once_one_refused_one_complete(data_dir):
    key = base64.b64encode(os.urandom(32)).decode()
    env = child_env(data_dir) | {"TALOWA_BACKUP_KEYS": f"k1:{key}"}  # no warning
    give_the_child_a_database(env)
    seeded = run_manage(
        env, "seed_messaging", "--users", "10", "--conversations", "20",
        "--messages", "2000", "--calls", "50", "--media", "10", "--noinput",
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    go_on = data_dir / "go-on"
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSED_BACKUP, str(go_on)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "WRITING", first.stderr.read()
        second = run_manage(env, "create_backup", "--json")
    finally:
        go_on.touch()
    first_id, errors = first.communicate(timeout=300)
    assert first.returncode == 0, errors

    assert second.returncode != 0 and second.stdout == ""
    assert len(second.stderr.strip().splitlines()) == 1
    assert "of the same scope is running" in second.stderr
    listed = json.loads(run_manage(env, "list_backups", "--json").stdout)["backups"]
    assert [(b["id"], b["status"]) for b in listed] == [(first_id.strip(), "completed")]
    stored = sorted(p.name for p in (data_dir / "backups" / "archives").glob("*"))
    assert stored and all(name.startswith(first_id.strip()) for name in stored)
    verified = run_manage(env, "verify_backup", first_id.strip(), "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["results"][0]["ok"] is True


@pytest.mark.postgres
def test_changes_committed_after_a_backup_reach_the_next_incremental(world):
    """A writer that began before a backup and commits after it is not missed.

    Its rows are stamped with the start of its transaction, earlier than the
    backups taken while it runs; their watermark must not pass that start.
    """
    import psycopg

    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
    )
    try:
        other.execute("SELECT 1")  # the writer's transaction starts here
        time.sleep(0.2)
        long_ago = timezone.now() - timedelta(days=1)  # what a careless app passes
        other.execute(
            "INSERT INTO messaging_message (created_at, updated_at, conversation_id,"
            " sender_id, kind, body, metadata, is_edited, is_deleted) VALUES"
            " (%s, %s, %s, %s, 'regular', 'late writer', '{}', false, false)",
            [long_ago, long_ago, world.direct.id, world.asha.id],
        )
        other.execute(
            "UPDATE messaging_message SET body = 'late edit' WHERE body = %s", [HINDI]
        )
        other.execute(
            "UPDATE auth_user SET first_name = 'Late' WHERE id = %s", [world.meena.id]
        )
        time.sleep(0.2)
        full = Backup.objects.get(pk=create_full_backup())
        assert full.counts["messages"] == 5  # uncommitted: not in the snapshot
        during = Backup.objects.get(pk=create_incremental_backup())
        assert during.counts["messages"] == during.counts["accounts"] == 0
        other.commit()
    finally:
        other.close()
    after = Backup.objects.get(pk=create_incremental_backup())
    assert after.parent_id == during.id
    assert after.counts["messages"] == 2
    assert after.counts["accounts"] == 1
    assert Message.objects.filter(body__in=["late writer", "late edit"]).count() == 2


def test_wrong_key_is_a_clear_error_naming_it(world, settings):
    backup_id = create_full_backup()
    other_key = base64.b64encode(os.urandom(32))
    settings.TALOWA_BACKUP_KEYS = [("k-new", base64.b64decode(other_key))]
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_backup", backup_id, stdout=out)
    message = str(caught.value)
    assert "dev-1" in message and "not configured" in message
    assert other_key.decode() not in message


def test_stale_running_backup_elsewhere_is_detected_by_heartbeat(world):
    from backups.services.catalog import mark_stale_backups

    stale = Backup.objects.create(
        kind="full",
        scope="system",
        status="running",
        lock_key="system",
        worker="another-host:123",
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(minutes=30),
        object_key="archives/x.tbk",
    )
    assert mark_stale_backups() == [stale.id]
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.lock_key is None
    assert object_store().list("archives") == []
