"""Backups on a real S3 protocol endpoint (moto's server), multipart included."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest
from botocore.config import Config
from django.core.management import call_command
from django.core.management.base import CommandError

from backups import storage as storage_module
from backups.exceptions import StorageUnavailable
from backups.models import Backup
from backups.services import create_full_backup, keys_in_use, rotate_keys, verify_backup
from backups.storage import S3ObjectStore, object_store
from tests.backups.conftest import SECRET_BODY, add_media

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "talowa-backups-test"


@pytest.fixture(scope="session")
def moto_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield server, f"http://{host}:{port}"
    server.stop()


def s3_settings(endpoint: str) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": endpoint,
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "location": "backups",
            "default_acl": None,
            "querystring_auth": False,
            "client_config": Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=2,
                read_timeout=5,
                request_checksum_calculation="when_required",
            ),
        },
    }


@pytest.fixture
def s3_backups(moto_endpoint, settings, world):
    import requests

    _server, endpoint = moto_endpoint
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    make_client(endpoint).create_bucket(Bucket=BUCKET)
    settings.STORAGES = {**settings.STORAGES, "backups": s3_settings(endpoint)}
    return endpoint


def test_full_backup_and_verify_on_s3(s3_backups):
    store = object_store()
    assert isinstance(store, S3ObjectStore)
    backup = Backup.objects.get(pk=create_full_backup())
    assert store.exists(backup.object_key) and store.exists(backup.sidecar_key)
    assert store.size(backup.object_key) == backup.stored_bytes
    assert SECRET_BODY.encode() not in store.get(backup.object_key)
    assert verify_backup(backup).ok


def test_large_archive_uploads_in_parts(s3_backups, world, monkeypatch):
    monkeypatch.setattr(storage_module, "PART_SIZE", 5 * 1024 * 1024)
    add_media(
        world.asha,
        os.urandom(12 * 1024 * 1024),
        name="video.bin",
        content_type="application/octet-stream",
    )
    uploads = []
    original = storage_module._MultipartWriter._upload

    def counting(self, data):
        uploads.append(len(data))
        return original(self, data)

    monkeypatch.setattr(storage_module._MultipartWriter, "_upload", counting)
    backup = Backup.objects.get(pk=create_full_backup())
    assert len(uploads) >= 3
    assert backup.stored_bytes > 12 * 1024 * 1024
    assert verify_backup(backup).ok


def test_keys_rotate_and_retire_on_s3(s3_backups, settings):
    old, new = ("k-old", os.urandom(32)), ("k-new", os.urandom(32))
    settings.TALOWA_BACKUP_KEYS = [old]
    backup = Backup.objects.get(pk=create_full_backup())
    bucket = make_client(s3_backups)

    def stored(key: str) -> dict:
        found = bucket.get_object(Bucket=BUCKET, Key=f"backups/{key}")
        return {"etag": found["ETag"], "bytes": found["Body"].read()}

    archive, sidecar = stored(backup.object_key), stored(backup.sidecar_key)

    settings.TALOWA_BACKUP_KEYS = [new, old]
    with pytest.raises(CommandError, match="still wraps 1 backup"):
        call_command("rotate_keys", "--retire", "k-old", stdout=io.StringIO())
    result = rotate_keys()
    assert result["rewrapped"] == [backup.id]
    assert keys_in_use() == {"k-new": [backup.id]}
    # The data key is re-wrapped in the bucket's sidecar; the archive is as
    # it was, byte for byte.
    assert stored(backup.object_key) == archive
    assert stored(backup.sidecar_key)["bytes"] != sidecar["bytes"]

    # Asked while still configured; once it says yes, the old key goes.
    call_command("rotate_keys", "--retire", "k-old", stdout=io.StringIO())
    settings.TALOWA_BACKUP_KEYS = [new]
    backup.refresh_from_db()
    assert backup.key_id == "k-new"
    assert verify_backup(backup).ok
    # After a disaster the bucket and the new key alone still find and read
    # it; the retired key reads nothing.
    Backup.objects.all().delete()
    found = json.loads(
        _command("list_backups", "--from-storage", "--rebuild-catalog", "--json")
    )
    assert [b["id"] for b in found["backups"]] == [backup.id]
    assert verify_backup(Backup.objects.get()).ok
    settings.TALOWA_BACKUP_KEYS = [old]
    with pytest.raises(CommandError, match="k-new"):
        call_command("verify_backup", backup.id, stdout=io.StringIO())


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_endpoint_stopped_mid_backup_fails_cleanly(world, settings, monkeypatch):
    from moto.server import ThreadedMotoServer

    from backups.archive import ArchiveWriter

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = make_client(endpoint)
    client.create_bucket(Bucket="stopped")
    config = s3_settings(endpoint)
    config["OPTIONS"]["bucket_name"] = "stopped"
    settings.STORAGES = {**settings.STORAGES, "backups": config}
    original = ArchiveWriter.end_section
    calls = []

    def stop_after_first_section(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            server.stop()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ArchiveWriter, "end_section", stop_after_first_section)
    with pytest.raises(StorageUnavailable, match="unreachable|refused"):
        create_full_backup()
    backup = Backup.objects.get()
    assert backup.status == Backup.Status.FAILED
    assert "storage" in backup.error
    assert backup.lock_key is None
    # Nothing reached the bucket under a final name (moto keeps its state
    # in-process, so a new server shows what the stopped one held).
    again = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    again.start()
    try:
        host, port = again.get_host_and_port()
        listing = make_client(f"http://{host}:{port}").list_objects_v2(Bucket="stopped")
        assert listing.get("KeyCount", 0) == 0
    finally:
        again.stop()


@pytest.fixture
def access_denied(s3_backups):
    """Make the S3 endpoint check signatures: the test's credentials get 403."""
    import requests

    def deny() -> None:
        requests.post(f"{s3_backups}/moto-api/reset-auth", data=b"0", timeout=10)

    yield deny
    requests.post(f"{s3_backups}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_verify_when_s3_answers_403_says_cannot_verify_and_changes_nothing(
    access_denied,
):
    backup = Backup.objects.get(pk=create_full_backup())
    assert verify_backup(backup).ok
    backup.refresh_from_db()
    before = (backup.verified_at, backup.verify_ok, backup.verify_error)
    access_denied()
    with pytest.raises(CommandError) as failure:
        call_command("verify_backup", "--all", stdout=io.StringIO())
    message = str(failure.value)
    assert "cannot verify" in message and "refused access" in message
    assert "\n" not in message
    backup.refresh_from_db()
    assert (backup.verified_at, backup.verify_ok, backup.verify_error) == before


def test_a_backup_refused_by_s3_is_logged_once_without_traceback(
    access_denied, caplog, settings
):
    settings.TALOWA_BACKUP_KEYS = [("k1", b"\x01" * 32)]  # no dev-key warning
    access_denied()
    with pytest.raises(StorageUnavailable) as failure:
        create_full_backup()
    assert Backup.objects.get().status == Backup.Status.FAILED
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].exc_info is None
    assert str(failure.value) in problems[0].getMessage()
    assert "refused access" in str(failure.value)


def make_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_listing_of_at_most_some_names_gives_up_beyond_them(s3_backups):
    store = object_store()
    for name in ("archives/b2.tbk", "archives/b1.tbk", "sidecar-copies/b1.key"):
        store.put(name, b"x")

    assert store.list_at_most("archives/", 2) == ["archives/b1.tbk", "archives/b2.tbk"]
    assert store.list_at_most("archives/", 1) is None
    assert store.list_at_most("missing/", 0) == []


def test_partials_under_several_prefixes_are_removed_in_one_listing(s3_backups):
    store = object_store()
    client = make_client(s3_backups)
    for name in ("archives/b1.tbk", "sidecar-copies/b1.key", "staging/b1.tbk"):
        client.create_multipart_upload(Bucket=BUCKET, Key=f"backups/{name}")
    listings = []
    store._client.meta.events.register(
        "before-call.s3.ListMultipartUploads", lambda **kwargs: listings.append(1)
    )

    assert store.remove_partials("archives", "sidecar-copies") == 2

    assert len(listings) == 1
    left = client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert [upload["Key"] for upload in left] == ["backups/staging/b1.tbk"]
