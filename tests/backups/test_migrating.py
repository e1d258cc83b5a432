"""migrate_backups: backups move between the file storage and S3, verified."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from backups.models import Backup, StorageMigration
from backups.services import create_full_backup, create_incremental_backup, migrating
from backups.services.sidecars import sidecar_names
from backups.storage import object_store
from messaging.models import Message
from talowa_admin.models import AuditEvent
from tests.backups.conftest import add_media
from tests.backups.test_storage_s3 import (  # noqa: F401 (fixture)
    BUCKET,
    make_client,
    moto_endpoint,
    s3_settings,
)
from tests.recovery.conftest import scratch, table_state  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def s3_target(moto_endpoint, settings, world):  # noqa: F811
    """An empty bucket as the ``backups-s3`` place; backups stay on files."""
    import requests

    _server, endpoint = moto_endpoint
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    make_client(endpoint).create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "backups-s3": s3_settings(endpoint)}
    return endpoint


def migrate(*args: str) -> dict:
    out = io.StringIO()
    call_command("migrate_backups", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def a_chain(world) -> list[str]:
    """A full backup and an incremental on it, with media in both."""
    full = create_full_backup()
    add_media(world.meena, os.urandom(300_000), name="clip.bin")
    Message.objects.create(
        conversation=world.group, sender=world.ravi, kind="group", body="later"
    )
    return [full, create_incremental_backup()]


def stored_objects(alias: str, backup_ids: list[str]) -> dict[str, bytes]:
    """Every object of the backups in storage ``alias``: archive and sidecars."""
    store = object_store(alias)
    found = {}
    for backup_id in backup_ids:
        key = f"archives/{backup_id}.tbk"
        for name in (key, *sidecar_names(key)):
            if store.exists(name):
                found[name] = store.get(name)
    return found


@contextlib.contextmanager
def s3_requests(alias: str = "backups-s3"):
    """Record the requests store ``alias`` sends: (operation, object name)."""
    sent: list[tuple[str, str]] = []

    def record(model, params, **kwargs) -> None:
        sent.append((model.name, params.get("Key", "").removeprefix("backups/")))

    events = object_store(alias)._client.meta.events
    events.register("before-parameter-build.s3", record)
    try:
        yield sent
    finally:
        events.unregister("before-parameter-build.s3", record)


def test_file_to_s3_and_back_then_restore_from_s3_alone(s3_target, world, scratch):  # noqa: F811
    ids = a_chain(world)
    expected_state = json.loads(json.dumps(table_state()))
    originals = stored_objects("backups", ids)
    assert len(originals) == 6

    moved = migrate("--to", "s3", "--delete-source")

    assert moved["status"] == "completed"
    assert (moved["backups_done"], moved["objects_copied"]) == (2, 6)
    assert stored_objects("backups-s3", ids) == originals
    assert stored_objects("backups", ids) == {}
    for backup in Backup.objects.filter(pk__in=ids):
        assert backup.storage == "backups-s3"
        digest = hashlib.sha256(originals[backup.object_key]).hexdigest()
        assert digest == backup.sha256
    out = io.StringIO()
    call_command("verify_backup", *ids, "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True
    assert AuditEvent.objects.filter(action="backup.migrate").count() == 1

    # The bucket alone (no catalog, no file storage) restores into a new database.
    url = scratch.url(connection.vendor, migrated=True)
    env = s3_env(s3_target)
    rebuilt = run_manage(
        scratch, url, env, "list_backups", "--from-storage", "--rebuild-catalog"
    )
    assert sorted(json.loads(rebuilt)["rebuilt"]["added"]) == sorted(ids)
    restore = ("restore_backup", ids[-1], "--noinput", "--no-pre-restore-backup")
    run_manage(scratch, url, env, *restore)
    expected = {t: [tuple(r) for r in rows] for t, rows in expected_state.items()}
    assert scratch.state(url) == expected

    back = migrate("--to", "file", "--delete-source")

    assert (back["status"], back["objects_copied"]) == ("completed", 6)
    assert stored_objects("backups-file", ids) == originals
    assert stored_objects("backups-s3", ids) == {}
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-file"}
    call_command("verify_backup", *ids, stdout=io.StringIO())


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "TALOWA_BACKUP_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_LOCATION": "backups",
    }


def run_manage(scratch, url: str, extra_env: dict, *args: str) -> str:  # noqa: F811
    import subprocess
    import sys

    from tests.recovery.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "manage.py", *args, "--json"],
        cwd=ROOT,
        env={**scratch.env(url), **extra_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_corrupted_source_archive_is_reported_and_kept(
    s3_target, world, streamed, monkeypatch
):
    if streamed:  # as archives larger than one part are copied
        monkeypatch.setattr(migrating, "SMALL_OBJECT", 0)
    ids = a_chain(world)
    broken = Backup.objects.get(pk=ids[0])
    path = object_store("backups").root / broken.object_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="completed with errors"):
        call_command(
            "migrate_backups", "--to", "s3", "--delete-source", stdout=io.StringIO()
        )

    run = StorageMigration.objects.get()
    assert run.status == StorageMigration.Status.COMPLETED_WITH_ERRORS
    assert [e["backup"] for e in run.errors] == [broken.id]
    assert "does not match the catalog's SHA-256: not copied" in run.errors[0]["error"]
    broken.refresh_from_db()
    assert broken.storage == "backups-file"
    assert path.read_bytes() == bytes(data)  # the source is kept as it was
    s3 = object_store("backups-s3")
    assert not s3.exists(broken.object_key)
    # Its sidecar copies, written beside the archive, were removed again.
    assert s3.list("archives") == sorted(
        [f"archives/{ids[1]}.tbk", f"archives/{ids[1]}.tbk.key"]
    )
    assert s3.list("sidecar-copies") == [f"sidecar-copies/archives/{ids[1]}.tbk.key"]
    assert Backup.objects.get(pk=ids[1]).storage == "backups-s3"


def test_dry_run_copies_nothing(s3_target, world):
    ids = a_chain(world)

    preview = migrate("--to", "s3", "--dry-run")

    assert preview["backups"] == ids
    assert preview["bytes_total"] == sum(
        Backup.objects.filter(pk__in=ids).values_list("stored_bytes", flat=True)
    )
    assert object_store("backups-s3").list("") == []
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-file"}
    assert not StorageMigration.objects.exists()


def test_a_backup_already_in_the_target_place_is_not_moved(world):
    create_full_backup()

    # New backups name their place: with TALOWA_BACKUP_STORAGE=file, backups-file.
    result = migrate("--to", "file")

    assert (result["backups_total"], result["objects_copied"]) == (0, 0)
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-file"}


def test_s3_target_needs_a_bucket(world, settings):
    s3 = {**settings.STORAGES["backups-s3"]}
    s3["OPTIONS"] = {**s3["OPTIONS"], "bucket_name": ""}
    settings.STORAGES = {**settings.STORAGES, "backups-s3": s3}

    with pytest.raises(CommandError, match="AWS_STORAGE_BUCKET_NAME"):
        call_command("migrate_backups", "--to", "s3", stdout=io.StringIO())


MAKE_CHAIN = """
import json, os, django
django.setup()
from django.contrib.auth import get_user_model
from backups.services import create_full_backup, create_incremental_backup
from tests.backups.conftest import add_media
owner = get_user_model().objects.create_user("asha")
ids = []
for number in range(%(count)d):
    add_media(owner, os.urandom(%(size)d), name=f"clip-{number}.bin")
    ids.append(create_incremental_backup() if ids else create_full_backup())
print(json.dumps(ids))
"""

RUN_STATE = """
import json, django
django.setup()
from backups.models import Backup, StorageMigration
from backups.services.migrating import summarize
print(json.dumps({
    "runs": [summarize(run) for run in StorageMigration.objects.all()],
    "storage": dict(Backup.objects.values_list("id", "storage")),
}))
"""


def switched_in_catalog(url: str) -> int:
    """How many backups the catalog at ``url`` places on S3, read directly."""
    query = "SELECT count(*) FROM backups_backup WHERE storage = 'backups-s3'"
    if url.startswith("sqlite:///"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            return db.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as db:
        return db.execute(query).fetchone()[0]


def test_killed_mid_migration_then_rerun_completes(moto_endpoint, data_dir, scratch):  # noqa: F811
    import signal
    import subprocess
    import sys
    import time

    import requests

    from tests.recovery.conftest import ROOT

    _server, endpoint = moto_endpoint
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    client = make_client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    url = scratch.url(connection.vendor, migrated=True)
    env = {**scratch.env(url), **s3_env(endpoint), "TALOWA_BACKUP_STORAGE": "file"}
    made = subprocess.run(
        [sys.executable, "-c", MAKE_CHAIN % {"count": 8, "size": 3_000_000}],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    ids = json.loads(made.stdout)
    command = [sys.executable, "manage.py", "migrate_backups", "--to", "s3"]

    def in_bucket() -> set[str]:
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix="backups/")
        return {item["Key"] for item in listed.get("Contents", [])}

    killed = subprocess.Popen(
        [*command, "--delete-source"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while switched_in_catalog(url) < 2:  # copies run a few at once: ask the catalog
        assert killed.poll() is None, killed.stderr.read()
        assert time.monotonic() < deadline, "the migration never switched a backup"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    archives_at_kill = {key for key in in_bucket() if key.endswith(".tbk")}

    def state() -> dict:
        result = subprocess.run(
            [sys.executable, "-c", RUN_STATE],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)

    midway = state()
    assert midway["runs"][0]["status"] == "running"
    moved = {i for i, alias in midway["storage"].items() if alias == "backups-s3"}
    assert 0 < len(moved) < len(ids), "killed too late to prove anything"
    # Consistent while interrupted: every backup verifies where the catalog says.
    verify = [sys.executable, "manage.py", "verify_backup", "--all", "--json"]
    checked = subprocess.run(verify, cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    rerun = subprocess.run(
        [*command, "--delete-source", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert (result["status"], result["resumed"]) == ("completed", 1)
    assert result["backups_done"] == result["backups_total"] == len(ids)
    # Every object was copied once: archives complete at the target before the
    # kill, though not yet in the catalog, were verified there and kept.
    assert result["objects_copied"] + result["objects_skipped"] == 3 * len(ids)
    assert result["objects_skipped"] >= len(archives_at_kill) - len(moved)
    expected = set()
    for backup_id in ids:
        key = f"archives/{backup_id}.tbk"
        expected |= {f"backups/{name}" for name in (key, *sidecar_names(key))}
    assert in_bucket() == expected
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert set(state()["storage"].values()) == {"backups-s3"}
    assert object_store("backups").list("archives") == []
    assert object_store("backups").list("sidecar-copies") == []
    checked = subprocess.run(verify, cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_run_is_recorded_read_only_in_the_admin(
    s3_target, world, client, role_user
):
    from django.urls import reverse

    from talowa_admin.roles import BACKUP_VIEWER

    ids = a_chain(world)
    run_id = migrate("--to", "s3")["run"]
    client.force_login(role_user(BACKUP_VIEWER))

    listing = client.get(reverse("admin:backups_storagemigration_changelist"))
    page = client.get(reverse("admin:backups_storagemigration_change", args=[run_id]))

    assert listing.status_code == page.status_code == 200
    assert "2/2" in listing.content.decode()
    assert all(backup_id in page.content.decode() for backup_id in ids)
    assert 'name="_save"' not in page.content.decode()
    change = reverse("admin:backups_storagemigration_change", args=[run_id])
    assert client.post(change, {}).status_code == 403


def test_after_a_move_the_catalog_stays_right_and_keys_rotate_everywhere(
    s3_target, world, settings
):
    import os as _os

    from backups.services import rotate_keys, verify_backup
    from backups.services.keys import retirement_check

    old, new = ("k-old", _os.urandom(32)), ("k-new", _os.urandom(32))
    settings.TALOWA_BACKUP_KEYS = [old]
    ids = a_chain(world)
    migrate("--to", "s3", "--delete-source")

    # Before TALOWA_BACKUP_STORAGE is switched, rotation finds the moved backups.
    settings.TALOWA_BACKUP_KEYS = [new, old]
    assert sorted(rotate_keys()["rewrapped"]) == sorted(ids)
    assert Backup.objects.get(pk=ids[0]).key_id == "k-new"
    settings.TALOWA_BACKUP_KEYS = [new]
    assert retirement_check("k-old")["can_retire"] is True
    Message.objects.create(
        conversation=world.group, sender=world.meena, kind="group", body="between"
    )
    between = create_incremental_backup()  # on files, before the switch

    # The operator switches: the catalog still names the right place.
    settings.STORAGES = {**settings.STORAGES, "backups": s3_settings(s3_target)}
    assert all(verify_backup(b).ok for b in Backup.objects.all())
    assert Backup.objects.get(pk=between).storage == "backups-file"
    Message.objects.create(
        conversation=world.direct, sender=world.asha, kind="regular", body="new"
    )
    latest = Backup.objects.get(pk=create_incremental_backup())
    assert latest.storage == "backups-s3"
    assert object_store("backups-s3").exists(latest.object_key)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(s3_target, world):
    a_chain(world)
    piped, terminal = io.StringIO(), Terminal()

    call_command("migrate_backups", "--to", "s3", stdout=io.StringIO(), stderr=piped)
    call_command(
        "migrate_backups", "--to", "file", stdout=io.StringIO(), stderr=terminal
    )

    assert piped.getvalue() == ""
    assert "\r1/2 backups" in terminal.getvalue()
    assert "\r2/2 backups" in terminal.getvalue()


def test_a_large_archive_moves_in_parts_both_ways(s3_target, world, monkeypatch):
    from backups import storage as storage_module

    monkeypatch.setattr(storage_module, "PART_SIZE", 5 * 1024 * 1024)
    monkeypatch.setattr(migrating, "SMALL_OBJECT", 5 * 1024 * 1024)
    add_media(world.asha, os.urandom(12 * 1024 * 1024), name="video.bin")
    ids = [create_full_backup()]
    originals = stored_objects("backups", ids)

    there = migrate("--to", "s3", "--delete-source")
    back = migrate("--to", "file", "--delete-source")

    assert there["status"] == back["status"] == "completed"
    assert there["bytes_copied"] == back["bytes_copied"] > 12 * 1024 * 1024
    assert stored_objects("backups-file", ids) == originals
    assert stored_objects("backups-s3", ids) == {}
    assert (
        not make_client(s3_target).list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    )


def test_expiry_is_refused_while_a_migration_runs(s3_target, world):
    from backups.exceptions import BackupError
    from backups.services import cleanup_expired_backups, expire_backup

    older = create_full_backup()  # a chain the keep rule below lets go
    full, incremental = a_chain(world)
    refusals = []

    def expire_meanwhile(run: StorageMigration) -> None:
        if run.backups_done != 1:
            return  # the older full is moved, the chain not yet
        for expire in (
            lambda: expire_backup(Backup.objects.get(pk=incremental)),
            lambda: cleanup_expired_backups(keep_last=1),
        ):
            with pytest.raises(BackupError, match="cannot expire now") as refused:
                expire()
            refusals.append(str(refused.value))

    result = migrating.migrate_backups(to="s3", progress=expire_meanwhile)

    assert result["status"] == "completed"
    assert len(refusals) == 2
    assert "migrate_backups --to s3" in refusals[0]  # says what holds the lock
    backups = Backup.objects.filter(pk__in=[older, full, incremental])
    assert {(b.status, b.storage) for b in backups} == {("completed", "backups-s3")}
    assert stored_objects("backups-s3", [older, full, incremental]).keys() == {
        name
        for backup_id in (older, full, incremental)
        for name in (f"archives/{backup_id}.tbk",)
        + sidecar_names(f"archives/{backup_id}.tbk")
    }
    # Once it has finished, expiry runs, where the catalog now places them.
    expire_backup(Backup.objects.get(pk=incremental))
    assert stored_objects("backups-s3", [incremental]) == {}


class _Killed(BaseException):
    """Stops a migration between two backups, as a kill would."""


def test_a_resumed_run_removes_the_copy_of_a_backup_expired_meanwhile(
    s3_target, world, monkeypatch
):
    from backups.services import expire_backup

    monkeypatch.setattr(migrating, "COPY_LANES", 1)  # the full is switched first
    full, incremental = a_chain(world)

    def kill_after_the_full(run: StorageMigration) -> None:
        # The incremental's copy is complete at the target, its switch not
        # yet made: what a kill during its verification leaves.
        source, target = object_store("backups-file"), object_store("backups-s3")
        key = f"archives/{incremental}.tbk"
        for name in (key, *sidecar_names(key)):
            target.put(name, source.get(name))
        raise _Killed

    with pytest.raises(_Killed):
        migrating.migrate_backups(to="s3", progress=kill_after_the_full)
    the_run_died()
    # While the run is dead, the incremental expires: from the files, where
    # the catalog places it.
    expire_backup(Backup.objects.get(pk=incremental))
    assert stored_objects("backups-file", [incremental]) == {}

    result = migrate("--to", "s3")

    assert (result["status"], result["resumed"]) == ("completed", 1)
    assert Backup.objects.get(pk=incremental).status == "expired"
    assert stored_objects("backups-s3", [incremental]) == {}  # nothing left behind
    assert Backup.objects.get(pk=full).storage == "backups-s3"


def the_run_died() -> None:
    """Make the migration runs' process one that is gone, as after a kill.

    Its lock went with it, as the lock's row does.
    """
    import subprocess
    import sys

    from talowa_admin import liveness

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    StorageMigration.objects.update(worker=f"{liveness.HOST}:{gone.pid}")


def test_each_backup_is_switched_as_soon_as_its_own_copy_is_done(
    s3_target, world, monkeypatch
):
    full, incremental = a_chain(world)
    incremental_switched = threading.Event()
    waited = []
    copy_backup = migrating._copy_backup

    def full_copied_slowly(backup, *args, **kwargs):
        if backup.id == full:  # as a large archive takes longer
            waited.append(incremental_switched.wait(timeout=5))
        return copy_backup(backup, *args, **kwargs)

    def progress(run: StorageMigration) -> None:
        if Backup.objects.get(pk=incremental).storage == "backups-s3":
            incremental_switched.set()

    monkeypatch.setattr(migrating, "_copy_backup", full_copied_slowly)

    result = migrating.migrate_backups(to="s3", progress=progress)

    assert result["status"] == "completed"
    assert waited == [True]  # switched while the full was still copying
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-s3"}


def test_without_delete_source_each_backup_is_recorded_once(s3_target, world):
    from django.test.utils import CaptureQueriesContext

    ids = a_chain(world)

    with CaptureQueriesContext(connection) as queries:
        result = migrate("--to", "s3")

    assert (result["status"], result["backups_done"]) == ("completed", len(ids))
    item_writes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE")
        and "backups_storagemigrationitem" in query["sql"]
    ]
    assert len(item_writes) == len(ids)  # pending to done: nothing to resume


def test_a_run_started_with_delete_source_and_resumed_without_keeps_the_sources(
    s3_target, world, monkeypatch
):
    ids = a_chain(world)
    originals = stored_objects("backups", ids)

    def killed(*args) -> None:  # after a switch, before its source's deletion
        raise _Killed

    with monkeypatch.context() as patched:
        patched.setattr(migrating, "_delete_source", killed)
        with pytest.raises(_Killed):
            migrating.migrate_backups(to="s3", delete_source=True)
    assert StorageMigration.objects.get().items.filter(state="switched").count() == 1
    the_run_died()

    result = migrate("--to", "s3")

    assert (result["status"], result["resumed"]) == ("completed", 1)
    assert result["delete_source"] is False
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-s3"}
    assert stored_objects("backups-s3", ids) == originals
    assert stored_objects("backups-file", ids) == originals


def test_a_run_started_without_delete_source_and_resumed_with_deletes_every_source(
    s3_target, world
):
    ids = a_chain(world)
    originals = stored_objects("backups", ids)

    def kill_after_the_first(run: StorageMigration) -> None:
        raise _Killed

    with pytest.raises(_Killed):
        migrating.migrate_backups(to="s3", progress=kill_after_the_first)
    assert StorageMigration.objects.get().items.filter(state="done").count() == 1
    the_run_died()

    result = migrate("--to", "s3", "--delete-source")

    assert (result["status"], result["resumed"]) == ("completed", 1)
    assert result["delete_source"] is True
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-s3"}
    assert stored_objects("backups-s3", ids) == originals
    assert stored_objects("backups-file", ids) == {}


def test_the_target_is_asked_once_which_archives_it_holds(s3_target, world):
    ids = a_chain(world)

    with s3_requests() as sent:
        result = migrate("--to", "s3")

    assert (result["status"], result["objects_copied"]) == ("completed", 3 * len(ids))
    operations = [operation for operation, _name in sent]
    assert operations.count("ListMultipartUploads") == 1  # a killed run's partials
    assert operations.count("ListObjectsV2") == 1
    assert "HeadObject" not in operations


@pytest.mark.parametrize("asked", ["in one listing", "for each archive"])
def test_an_archive_already_at_the_target_is_read_back_before_it_is_skipped(
    s3_target, world, monkeypatch, asked
):
    if asked == "for each archive":  # a target holding many other objects
        monkeypatch.setattr(migrating, "LISTING_PAGE", 1)
        monkeypatch.setattr(migrating, "LISTED_PER_ARCHIVE", 1)
    ids = a_chain(world)
    originals = stored_objects("backups", ids)
    intact, damaged = (f"archives/{backup_id}.tbk" for backup_id in ids)
    target = object_store("backups-s3")
    target.put(intact, originals[intact])
    target.put(damaged, originals[damaged][:-1] + b"?")
    target.put("archives/unrelated.tbk", b"someone else's")

    with s3_requests() as sent:
        result = migrate("--to", "s3")

    assert result["status"] == "completed"
    assert (result["objects_copied"], result["objects_skipped"]) == (5, 1)
    assert stored_objects("backups-s3", ids) == originals
    assert ("GetObject", intact) in sent  # verified, not believed
    heads = {name for operation, name in sent if operation == "HeadObject"}
    assert heads == (set() if asked == "in one listing" else {intact, damaged})


def test_progress_leaves_the_heartbeat_to_its_thread(s3_target, world):
    from datetime import timedelta

    from django.utils import timezone

    a_chain(world)
    beat = timezone.now() + timedelta(hours=1)
    seen = []

    def progress(run: StorageMigration) -> None:
        # As the heartbeat thread does, on its own connection.
        if not seen:
            StorageMigration.objects.filter(pk=run.pk).update(heartbeat_at=beat)
        seen.append(StorageMigration.objects.get(pk=run.pk).heartbeat_at)

    result = migrating.migrate_backups(to="s3", progress=progress)

    assert (result["status"], result["backups_done"]) == ("completed", 2)
    assert seen == [beat, beat]  # the second backup's progress kept the beat


def test_a_later_run_with_delete_source_deletes_the_sources_a_completed_run_kept(
    s3_target, world
):
    ids = a_chain(world)
    originals = stored_objects("backups", ids)
    first = migrate("--to", "s3")
    assert stored_objects("backups-file", ids) == originals  # copied, kept
    # The operator checks the target, then asks for the sources to go.
    preview = migrate("--to", "s3", "--delete-source", "--dry-run")
    assert preview["backups_total"] == 0
    assert sorted(preview["sources_left"]) == sorted(ids)
    assert stored_objects("backups-file", ids) == originals  # a preview

    second = migrate("--to", "s3", "--delete-source")

    assert second["run"] != first["run"] and second["status"] == "completed"
    assert (second["backups_total"], second["backups_done"]) == (2, 2)
    assert second["objects_copied"] == 0
    assert stored_objects("backups-file", ids) == {}
    assert stored_objects("backups-s3", ids) == originals
    assert set(Backup.objects.values_list("storage", flat=True)) == {"backups-s3"}
    # Nothing is left to delete: a third run has no work.
    third = migrate("--to", "s3", "--delete-source")
    assert third["backups_total"] == 0


def test_a_kept_source_whose_target_copy_is_damaged_is_not_deleted(s3_target, world):
    ids = a_chain(world)
    originals = stored_objects("backups", ids)
    migrate("--to", "s3")
    full = Backup.objects.get(pk=ids[0])
    target = object_store("backups-s3")
    target.put(full.object_key, b"damaged at the target")

    out = io.StringIO()
    with pytest.raises(CommandError, match="completed with errors"):
        call_command(
            "migrate_backups", "--to", "s3", "--delete-source", "--json", stdout=out
        )

    run = StorageMigration.objects.latest("pk")
    assert run.status == "completed_with_errors" and run.backups_done == 1
    [error] = run.errors
    assert error["backup"] == ids[0] and "does not match" in error["error"]
    kept = stored_objects("backups-file", ids)
    assert kept == {k: v for k, v in originals.items() if ids[0] in k}
