"""Disasters: the database gone, another engine, a restore killed mid-way."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from backups.keyring import DEV_KEY_FILENAME
from backups.services import create_full_backup, create_incremental_backup
from messaging.models import MediaFile, Message
from tests.backups.conftest import HINDI, MEDIA_BYTES
from tests.recovery.conftest import (
    ROOT,
    Scratch,
    account_state,
    postgres_available,
    table_state,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _state_of_this_database() -> dict:
    return json.loads(json.dumps(table_state()))


def _as_tuples(state: dict) -> dict:
    return {table: [tuple(row) for row in rows] for table, rows in state.items()}


def test_restore_into_an_empty_database_that_never_saw_the_backup(world, scratch):
    create_full_backup()
    Message.objects.create(
        conversation=world.group,
        sender=world.meena,
        kind="group",
        body="after the full backup",
    )
    last = create_incremental_backup()
    expected = _as_tuples(_state_of_this_database())
    engine = connection.vendor
    url = scratch.url(engine, migrated=True)
    listed = json.loads(
        scratch.manage(url, "list_backups", "--from-storage", "--json").stdout
    )
    assert {b["id"] for b in listed["backups"]} >= {last}
    assert not any(b["in_catalog"] for b in listed["backups"])
    result = scratch.manage(
        url, "restore_backup", last, "--noinput", "--json", "--no-pre-restore-backup"
    )
    assert json.loads(result.stdout)["status"] == "completed"
    assert scratch.state(url) == expected
    catalog = json.loads(scratch.manage(url, "list_backups", "--json").stdout)
    assert last in {b["id"] for b in catalog["backups"]}
    # The restored accounts' ids are taken: a new account gets a fresh one.
    scratch.manage(
        url,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_user('newcomer')",
    )


def test_a_chain_restored_into_an_empty_database_equals_the_live_data(
    world, scratch, make_user
):
    leaving = make_user("leaving")
    create_full_backup()
    users = get_user_model().objects
    users.filter(pk=world.ravi.pk).update(first_name="Ravi Kumar")
    leaving.delete()
    newcomer = make_user("newcomer", first_name="Lakshmi")
    Message.objects.create(
        conversation=world.group, sender=newcomer, kind="group", body="hello"
    )
    Message.objects.filter(body=HINDI).update(body="edited")  # updated_at untouched
    create_incremental_backup()
    users.filter(pk=newcomer.pk).update(last_name="Devi")
    world.meena.set_password("a new one, 2026")
    world.meena.save()
    Message.objects.filter(sender=world.ravi).delete()
    last = create_incremental_backup()
    expected = _as_tuples(_state_of_this_database())
    expected_accounts = [tuple(row) for row in json.loads(json.dumps(account_state()))]
    url = scratch.url(connection.vendor, migrated=True)
    scratch.manage(url, "restore_backup", last, "--noinput", "--no-pre-restore-backup")
    assert scratch.state(url) == expected
    assert scratch.accounts(url) == expected_accounts


def test_backup_restores_into_the_other_engine(world, scratch):
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    if other == "postgresql" and not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    backup_id = create_full_backup()
    expected = _as_tuples(_state_of_this_database())
    url = scratch.url(other, migrated=True)
    scratch.manage(
        url, "restore_backup", backup_id, "--noinput", "--no-pre-restore-backup"
    )
    assert scratch.state(url) == expected
    # And back again: the other engine's backup restores here.
    scratch.manage(url, "create_backup", "--note", "from the other engine")
    listed = json.loads(scratch.manage(url, "list_backups", "--json").stdout)
    theirs = next(b for b in listed["backups"] if b["note"] == "from the other engine")
    Message.objects.all().delete()
    from recovery.services.restoring import restore_from_backup

    restore_from_backup(theirs["id"], create_pre_restore_backup=False)
    assert _as_tuples(_state_of_this_database()) == expected


def test_restore_on_another_engine_and_machine_writes_the_media_bytes(
    world, scratch, data_dir, tmp_path, monkeypatch
):
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    if other == "postgresql" and not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    backup_id = create_full_backup()
    expected = _as_tuples(_state_of_this_database())
    files = {m.file.name: m.sha256 for m in MediaFile.objects.all()}
    assert len(files) == 2
    # Another machine: its own empty data directory, which reaches only a copy
    # of the backup store, and the keys handed over apart from it.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(data_dir / "backups", elsewhere / "backups")
    monkeypatch.setenv("TALOWA_BACKUP_KEYS", (data_dir / DEV_KEY_FILENAME).read_text())
    machine = Scratch(tmp_path, elsewhere)
    url = scratch.url(other, migrated=True)
    machine.manage(
        url, "restore_backup", backup_id, "--noinput", "--no-pre-restore-backup"
    )
    assert machine.state(url) == expected
    written = {
        str(path.relative_to(elsewhere / "media")): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for path in (elsewhere / "media").rglob("*")
        if path.is_file()
    }
    assert written == files
    photo = MediaFile.objects.get(name="photo.png").file.name
    assert (elsewhere / "media" / photo).read_bytes() == MEDIA_BYTES


# The child restores slowly and says when it has begun writing; the parent
# kills it there. The slowdown is the test's, not the product's.
SLOW_RESTORE = """
import sys, time, django
django.setup()
from recovery import loaders
original = loaders.RowLoader._flush
def slow(self, *args, **kwargs):
    original(self, *args, **kwargs)
    print("WRITING", flush=True)
    time.sleep(0.5)
loaders.RowLoader._flush = slow
from recovery import staging
original_lanes = staging.copy_in_lanes
def slow_lanes(*args, **kwargs):
    rows = original_lanes(*args, **kwargs)
    print("WRITING", flush=True)
    time.sleep(0.5)
    return rows
staging.copy_in_lanes = slow_lanes
if sys.argv[2] == "swapping":  # stop inside the swap, after the live tables went
    original_triggers = staging.table_trigger_statements
    def slow_triggers(*args):
        print("WRITING", flush=True)
        time.sleep(30)
        return original_triggers(*args)
    staging.table_trigger_statements = slow_triggers
    staging.copy_in_lanes = original_lanes
    loaders.RowLoader._flush = original
from recovery.services.restoring import restore_from_backup
restore_from_backup(sys.argv[1], create_pre_restore_backup=False)
"""

KEEP_TEN_YEARS = (
    "from retention.services.policies import set_retention_policy; "
    "from retention.types import RETENTION_TYPES; "
    "set_retention_policy(entity_type='global', entity_id=None, "
    "retention_periods=dict.fromkeys(RETENTION_TYPES, 3650))"
)


@pytest.mark.parametrize("moment", ["loading", "swapping"])
def test_killed_restore_leaves_every_table_as_it_was(world, scratch, moment):
    if moment == "swapping" and connection.vendor != "postgresql":
        pytest.skip("only system restores on PostgreSQL swap staged tables in")
    url = scratch.url(connection.vendor, migrated=True)
    scratch.manage(
        url,
        "seed_messaging",
        "--users",
        "10",
        "--conversations",
        "20",
        "--messages",
        "3000",
        "--calls",
        "50",
        "--media",
        "10",
        "--noinput",
    )
    # The seeded year holds rows past the default retention periods, which a
    # completed restore archives again (docs/retention.md); this test is about
    # kills, so its database keeps every row for ten years.
    scratch.manage(url, "shell", "-c", KEEP_TEN_YEARS)
    backup_id = scratch.manage(url, "create_backup").stdout.strip()
    backed_up = scratch.state(url)
    scratch.manage(
        url,
        "shell",
        "-c",
        "from messaging.models import Message; "
        "Message.objects.filter(id__lte=500).delete(); "
        "Message.objects.filter(id__gt=2500).update(body='changed')",
    )
    before = scratch.state(url)
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_RESTORE, backup_id, moment],
        cwd=ROOT,
        env=scratch.env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while child.stdout.readline().strip() != "WRITING":
        assert child.poll() is None, child.stderr.read()
        assert time.monotonic() < deadline
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert scratch.state(url) == before
    # The dead restore's lock is broken by the next one, which completes.
    scratch.manage(
        url, "restore_backup", backup_id, "--noinput", "--no-pre-restore-backup"
    )
    assert scratch.state(url) == backed_up
