"""The export services: jobs, limits, failures, dead workers, links and expiry."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import signing
from django.core.files.storage import storages
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backups import tasks
from backups.exports import (
    ExportInProgress,
    ExportLimitReached,
    ExportNotFound,
    ExportRefused,
    ExportUnavailable,
    json_format,
)
from backups.models import Backup, ExportJob
from backups.services import exporting
from backups.storage import PARTIAL_MARKER
from messaging.models import Conversation, Message, Participant
from talowa_admin.models import AuditEvent
from tests.backups.conftest import TELUGU
from tests.backups.test_backup_faults import killed_child, wait_until

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def exports_dir(data_dir: Path) -> Path:
    return data_dir / "exports"


def stored_files(data_dir: Path) -> list[str]:
    root = exports_dir(data_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def open_archive(job: ExportJob) -> zipfile.ZipFile:
    with storages["exports"].open(job.files[0]["name"], "rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def audited(action: str, job: ExportJob | None = None) -> bool:
    events = AuditEvent.objects.filter(action=action)
    if job is not None:
        events = events.filter(target_type="backups.exportjob", target_id=str(job.pk))
    return events.exists()


# --- The brief's API ---------------------------------------------------------
def test_export_user_data_reads_like_the_briefs_test(world):
    # Begun a day ago, sent an hour ago, one message edited since: no two
    # fields of a row hold the same value by chance (created_at and
    # updated_at, is_edited and is_deleted), so a field exported from the
    # wrong column shows.
    Conversation.objects.update(created_at=F("created_at") - timedelta(days=1))
    Message.objects.filter(sender=world.asha).update(
        created_at=F("created_at") - timedelta(hours=1)
    )
    Message.objects.filter(body=TELUGU).update(is_edited=True)
    result = exporting.export_user_data(world.asha, format="json")
    job = ExportJob.objects.get(pk=result.export_id)
    document = json.loads(open_archive(job).read("export.json"))

    def read(row: dict, *times: str) -> dict:
        return {**row, **{name: parse_datetime(row[name]) for name in times}}

    # Her two conversations, each with her own role and join time and every
    # field as stored; nobody else's conversation.
    mine = (
        Participant.objects.filter(user=world.asha)
        .select_related("conversation")
        .order_by("conversation_id")
    )
    assert [
        read(c, "joined_at", "created_at", "updated_at")
        for c in document["conversations"]
    ] == [
        {
            "id": p.conversation_id,
            "kind": p.conversation.kind,
            "title": p.conversation.title,
            "role": p.role,
            "joined_at": p.joined_at,
            "created_at": p.conversation.created_at,
            "updated_at": p.conversation.updated_at,
        }
        for p in mine
    ]
    assert [c["id"] for c in document["conversations"]] == [
        world.direct.pk,
        world.group.pk,
    ]
    assert document["conversations"][1]["title"] == "Village council"
    # Her messages only, each whole: what she wrote, where, when and how.
    sent = Message.objects.filter(sender=world.asha).order_by(
        "conversation_id", "created_at", "id"
    )
    assert [read(m, "created_at", "updated_at") for m in document["messages"]] == [
        {
            "id": m.pk,
            "conversation_id": m.conversation_id,
            "sender": world.asha.get_username(),
            "kind": m.kind,
            "body": m.body,
            "is_edited": m.is_edited,
            "is_deleted": m.is_deleted,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "metadata": m.metadata,
        }
        for m in sent
    ]
    assert TELUGU in {m["body"] for m in document["messages"]}


def test_export_user_data_stores_a_completed_job_and_describes_its_file(
    world, data_dir
):
    result = exporting.export_user_data(
        world.asha, format="csv", data_types=["messages"], actor=world.ravi
    )
    job = ExportJob.objects.get(pk=result.export_id)
    stored = job.files[0]
    raw = (exports_dir(data_dir) / stored["name"]).read_bytes()

    assert job.status == ExportJob.Status.COMPLETED and job.progress == 100
    prefix = f"{world.asha.pk}/{job.pk}-"
    assert stored["name"].startswith(prefix) and stored["name"].endswith(".zip")
    assert len(stored["name"][len(prefix) : -4]) >= 16  # an unguessable token
    assert result.files == [
        {"name": stored["name"], "size": len(raw), "sha256": stored["sha256"]}
    ]
    assert stored["sha256"] == hashlib.sha256(raw).hexdigest()
    assert job.size_bytes == len(raw) == result.size_bytes
    assert result.counts == {"messages": 2}
    assert job.expires_at - job.finished_at == timedelta(days=7)
    assert job.requested_by == world.ravi
    assert audited("export.create", job)
    assert stored_files(data_dir) == [stored["name"]]


@pytest.mark.django_db(transaction=True)  # a backup reads outside transactions
def test_perform_data_export_backs_up_first_and_links_the_backup(world):
    result = exporting.perform_data_export(
        user=world.asha,
        data_types=["messages", "conversations", "call_history"],
        format="json",
        include_metadata=True,
        create_backup=True,
        actor="test",
    )
    backup = Backup.objects.get(pk=result["backup_id"])
    job = ExportJob.objects.get(pk=result["export_id"])

    assert result["status"] == "completed"
    assert result["files"][0]["size"] > 0 and len(result["files"][0]["sha256"]) == 64
    assert backup.scope == "user" and backup.owner == world.asha
    assert backup.status == "completed"
    assert sorted(backup.data_types) == ["call_history", "conversations", "messages"]
    assert job.backup_id == backup.id
    manifest = json.loads(open_archive(job).read("manifest.json"))
    assert manifest["backup_id"] == backup.id


def test_export_link_lifetime_is_configurable(world, settings):
    settings.TALOWA_EXPORT_LINK_DAYS = 2
    result = exporting.export_user_data(world.asha, format="ndjson")
    job = ExportJob.objects.get(pk=result.export_id)

    assert job.expires_at - job.finished_at == timedelta(days=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "xml"}, "unknown export format 'xml'; choose one of json, csv"),
        ({"format": "json", "data_types": ["messages", "photos"]}, "'photos'"),
        ({"format": "json", "data_types": []}, "choose at least one data type"),
    ],
)
def test_unknown_choices_are_refused_before_anything_happens(world, options, message):
    with pytest.raises(ExportRefused, match=message):
        exporting.request_export(user=world.asha, **options)
    with pytest.raises(ExportRefused, match=message):
        exporting.export_user_data(world.asha, **options)

    assert not ExportJob.objects.exists()


# --- Requests, the queue and the limits -----------------------------------------
def test_a_request_is_queued_then_run_by_the_task(
    world, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = exporting.request_export(user=world.asha, format="html")
        assert ExportJob.objects.get(pk=job.pk).status == "queued"

    job.refresh_from_db()
    assert job.status == "completed" and job.requested_by == world.asha
    assert "index.html" in open_archive(job).namelist()
    assert audited("export.request", job) and audited("export.create", job)


def test_one_export_at_a_time_per_user(world):
    exporting.request_export(user=world.asha, format="json")

    with pytest.raises(ExportInProgress, match="already being prepared"):
        exporting.request_export(user=world.asha, format="csv")
    exporting.request_export(user=world.ravi, format="csv")  # others are free
    assert ExportJob.objects.count() == 2


def test_daily_limit_counts_the_users_own_requests(world, settings, role_user):
    from talowa_admin.roles import BACKUP_OPERATOR

    settings.TALOWA_EXPORT_DAILY_LIMIT = 2
    failed = exporting.request_export(user=world.asha, format="json")
    ExportJob.objects.filter(pk=failed.pk).update(status="failed")
    staff = exporting.request_export(
        user=world.asha,
        format="json",
        requested_by=role_user(BACKUP_OPERATOR),
        daily_limit=False,
    )
    ExportJob.objects.filter(pk=staff.pk).update(status="completed")
    for _ in range(2):
        job = exporting.request_export(user=world.asha, format="json")
        ExportJob.objects.filter(pk=job.pk).update(status="completed")

    with pytest.raises(ExportLimitReached, match="2 exports in the last 24 hours"):
        exporting.request_export(user=world.asha, format="json")
    ExportJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    exporting.request_export(user=world.asha, format="json")


def test_staff_requests_skip_users_with_an_export_under_way(world, role_user):
    from talowa_admin.roles import BACKUP_OPERATOR

    operator = role_user(BACKUP_OPERATOR)
    exporting.request_export(user=world.ravi, format="json")
    jobs, refused = exporting.request_exports(
        users=[world.asha, world.ravi, world.meena],
        format="csv",
        requested_by=operator,
    )

    assert sorted(j.user.username for j in jobs) == ["asha", "meena"]
    assert list(refused) == ["ravi"]
    assert all(j.requested_by == operator for j in jobs)


# --- Failures ------------------------------------------------------------------
def test_a_failure_mid_export_leaves_a_failed_job_and_no_file(
    world, data_dir, monkeypatch
):
    rows = []

    def failing_dumps(value):
        rows.append(value)
        if len(rows) == 3:
            raise OSError("disk full (injected)")
        return json_format.json.dumps(value)

    monkeypatch.setattr(json_format, "dumps", failing_dumps)
    job = exporting.request_export(user=world.asha, format="json")

    with pytest.raises(OSError, match="disk full"):
        exporting.run_export_job(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "OSError: disk full (injected)"
    assert job.files == [] and job.expires_at is None
    assert stored_files(data_dir) == []
    assert not exporting.is_downloadable(job)
    assert audited("export.failed", job)


def test_a_task_delivered_twice_does_nothing_the_second_time(world, sync_tasks):
    job = exporting.request_export(user=world.asha, format="json")
    exporting.run_export_job(job_id=job.pk)

    assert exporting.run_export_job(job_id=job.pk) is None
    assert tasks.run_export(job.pk).endswith("nothing done")
    job.refresh_from_db()
    assert job.status == "completed"


def test_the_task_raises_so_the_queue_records_a_failure(world, monkeypatch):
    job = exporting.request_export(user=world.asha, format="json")
    monkeypatch.setattr(json_format, "dumps", lambda value: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "ZeroDivisionError" in job.error


def test_the_failure_hook_fails_a_job_its_task_never_ran(world):
    job = exporting.request_export(user=world.asha, format="json")

    class FailedTask:
        success = False
        args = (job.pk,)
        result = "No module named 'backups.tasks' : Traceback ..."

    tasks.export_task_finished(FailedTask())

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "the export task failed: No module named 'backups.tasks'"


def test_a_worker_elsewhere_is_dead_when_its_heartbeat_stops(world, data_dir, settings):
    job = exporting.request_export(user=world.asha, format="json")
    silent = timedelta(seconds=settings.TALOWA_WORKER_HEARTBEAT_LIMIT + 1)
    ExportJob.objects.filter(pk=job.pk).update(
        status="running",
        worker="another-host:4242",
        heartbeat_at=timezone.now() - silent,
    )
    partial = exports_dir(data_dir) / str(world.asha.pk)
    partial.mkdir(parents=True)
    (partial / f".{job.pk}-tok.zip{PARTIAL_MARKER}1234").write_bytes(b"PK\x03\x04")

    report = exporting.cleanup_expired_exports()

    job.refresh_from_db()
    assert report["failed_stale"] == [job.pk]
    assert job.status == "failed"
    assert job.error.startswith("worker died: another-host:4242 stopped")
    assert stored_files(data_dir) == []
    # The user is free to ask again.
    exporting.request_export(user=world.asha, format="json")


def test_a_job_no_worker_took_fails_after_a_day(world):
    job = exporting.request_export(user=world.asha, format="json")
    ExportJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )

    assert exporting.mark_stale_exports() == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and "no worker took it up" in job.error


CHILD = """
import sys, time, django
django.setup()
from backups.exports import json_format
original = json_format.dumps
def slow(value):
    time.sleep(0.3)
    return original(value)
json_format.dumps = slow
from backups.services.exporting import run_export_job
run_export_job(job_id=int(sys.argv[1]))
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_never_leaves_a_file_to_download(world, data_dir):
    job = exporting.request_export(user=world.asha, format="json")
    db = connection.settings_dict
    env = dict(
        os.environ,
        TALOWA_DATA_DIR=str(data_dir),
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
    )
    with killed_child(env, CHILD, str(job.pk)) as child:
        wait_until(
            child,
            lambda: any(PARTIAL_MARKER in name for name in stored_files(data_dir)),
            "the export never started writing",
        )

    assert ExportJob.objects.get(pk=job.pk).worker.endswith(f":{child.pid}")

    # The next look at the user's exports finds the worker's process gone.
    (job,) = exporting.exports_of(user=world.asha)
    assert job.status == "failed" and job.error.startswith("worker died")
    assert not job.files and not exporting.is_downloadable(job)
    assert stored_files(data_dir) == []


# --- Downloads -------------------------------------------------------------------
def completed_export(user) -> ExportJob:
    result = exporting.export_user_data(user, format="json")
    return ExportJob.objects.get(pk=result.export_id)


def test_the_owner_downloads_and_the_download_is_audited(world):
    job = completed_export(world.asha)
    download = exporting.open_download(
        token=exporting.download_token(job), user=world.asha
    )
    with download.handle:
        data = download.handle.read()

    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    assert download.size == len(data) == job.size_bytes
    assert download.filename.startswith("talowa-export-asha-")
    assert download.filename.endswith("-json.zip")
    assert audited("export.download", job)


def test_links_name_nothing_for_anyone_but_the_owner(world):
    job = completed_export(world.asha)
    token = exporting.download_token(job)
    value, stamp, signature = token.split(":")

    with pytest.raises(ExportNotFound):
        exporting.open_download(token=token, user=world.ravi)
    with pytest.raises(ExportNotFound):
        exporting.open_download(token=f"{value}:{stamp}:{signature}x", user=world.asha)
    forged = f"{job.pk}.{world.ravi.pk}:{stamp}:{signature}"
    with pytest.raises(ExportNotFound):
        exporting.open_download(token=forged, user=world.ravi)
    assert not audited("export.download")


def test_an_expired_link_or_export_is_unavailable(world, monkeypatch):
    job = completed_export(world.asha)
    eight_days_ago = int(time.time()) - 8 * 24 * 3600
    monkeypatch.setattr(
        signing.TimestampSigner,
        "timestamp",
        lambda self: signing.b62_encode(eight_days_ago),
    )
    old_token = exporting.download_token(job)
    monkeypatch.undo()

    with pytest.raises(ExportUnavailable, match="expired"):
        exporting.open_download(token=old_token, user=world.asha)
    with pytest.raises(ExportNotFound):  # expired or not, never someone else's
        exporting.open_download(token=old_token, user=world.ravi)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now())
    with pytest.raises(ExportUnavailable):
        exporting.open_download(token=exporting.download_token(job), user=world.asha)


def test_cleanup_deletes_expired_files_and_keeps_the_record(world, data_dir):
    old = completed_export(world.asha)
    fresh = completed_export(world.ravi)
    ExportJob.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    report = tasks.cleanup_expired_exports()

    old.refresh_from_db()
    assert report["expired"] == [old.pk]
    assert report["bytes_freed"] == old.size_bytes
    assert old.status == "expired"
    assert stored_files(data_dir) == [fresh.files[0]["name"]]
    assert audited("export.expire")
    with pytest.raises(ExportUnavailable):
        exporting.open_download(token=exporting.download_token(old), user=world.asha)


def test_a_queue_that_refuses_the_task_fails_the_job_clearly(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    import django_q.tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(django_q.tasks, "async_task", unreachable)
    with (
        pytest.raises(exporting.ExportError, match="could not be started"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        exporting.request_export(user=world.asha, format="json")

    job = ExportJob.objects.get()
    assert job.status == "failed"
    assert job.error == "it could not be queued: ConnectionError: broker unreachable"


def test_progress_and_heartbeat_are_recorded_while_it_runs(world, monkeypatch):
    from backups.exports import jobs, source

    monkeypatch.setattr(jobs, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr(source, "PROGRESS_EVERY", 1)
    seen = []
    original = jobs.JobProgress.advance

    def spy(self, done):
        original(self, done)
        seen.append(ExportJob.objects.values_list("progress", "heartbeat_at").get())

    monkeypatch.setattr(jobs.JobProgress, "advance", spy)
    job = exporting.request_export(user=world.asha, format="csv")
    started = timezone.now()
    exporting.run_export_job(job_id=job.pk)

    progress = [p for p, _ in seen]
    assert progress == sorted(progress) and 0 < progress[-1] <= 99
    assert all(beat > started for _, beat in seen)
    job.refresh_from_db()
    assert job.progress == 100
