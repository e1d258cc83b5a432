"""Scheduled runs retry transient storage failures, and nothing else."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.utils import timezone

from backups.exceptions import ArchiveCorrupted, KeyUnavailable, StorageUnavailable
from backups.models import Backup, BackupScheduleRun
from backups.services import create_backup_schedule, verify_backup
from backups.services.scheduling import run_backup_schedule
from backups.services.scheduling.runs import (
    RETRY_ATTEMPTS,
    ScheduledRunFailed,
    is_transient,
    retry_delay,
)
from tests.backups.test_storage_s3 import make_client, s3_settings

pytestmark = pytest.mark.django_db(transaction=True)


class StoppableS3:
    """moto's S3 server on a fixed port, which can be stopped and started again."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server_class = ThreadedMotoServer
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{self.port}"
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            self.server = self._server_class(
                ip_address="127.0.0.1", port=self.port, verbose=False
            )
            self.server.start()
            self.running = True


@pytest.fixture
def s3(settings, world):
    store = StoppableS3()
    make_client(store.endpoint).create_bucket(Bucket="retries")
    config = s3_settings(store.endpoint)
    config["OPTIONS"]["bucket_name"] = "retries"
    settings.STORAGES = {**settings.STORAGES, "backups": config}
    yield store
    store.stop()


def test_the_store_down_for_the_first_attempt_is_retried_and_succeeds(s3):
    schedule_id = create_backup_schedule(
        schedule_name="To S3", interval=timedelta(hours=1)
    )
    waits = []

    def store_comes_back(seconds: float) -> None:
        waits.append(seconds)
        s3.start()

    s3.stop()
    run = run_backup_schedule(
        schedule_id=schedule_id,
        slot=timezone.now().isoformat(),
        sleep=store_comes_back,
    )
    assert run.result == "succeeded", run.message
    assert run.attempts == 2
    assert len(waits) == 1 and 15 <= waits[0] <= 45
    failed, completed = Backup.objects.order_by("created_at")
    assert failed.status == "failed" and "unreachable" in failed.error
    assert completed.status == "completed" and run.backup == completed
    assert verify_backup(completed).ok


def test_the_store_down_for_good_fails_after_the_documented_attempts(s3):
    schedule_id = create_backup_schedule(
        schedule_name="To S3", interval=timedelta(hours=1)
    )
    waits = []
    s3.stop()
    with pytest.raises(ScheduledRunFailed, match="unreachable"):
        run_backup_schedule(
            schedule_id=schedule_id,
            slot=timezone.now().isoformat(),
            sleep=waits.append,
        )
    assert len(waits) == RETRY_ATTEMPTS - 1
    assert all(w > 0 for w in waits)
    assert Backup.objects.filter(status="failed").count() == RETRY_ATTEMPTS
    run = BackupScheduleRun.objects.get()
    assert run.result == "failed" and run.attempts == RETRY_ATTEMPTS
    assert run.message.startswith(f"failed after {RETRY_ATTEMPTS} attempts")


def test_backoff_grows_exponentially_with_jitter():
    assert retry_delay(1, rand=lambda: 0.5) == 30
    assert retry_delay(2, rand=lambda: 0.5) == 60
    assert retry_delay(3, rand=lambda: 0.5) == 120
    assert retry_delay(10, rand=lambda: 0.5) == 600  # capped
    assert retry_delay(1, rand=lambda: 0.0) == 15
    assert retry_delay(1, rand=lambda: 0.999) < 45


def _wrapped(cause: Exception, message: str = "x") -> StorageUnavailable:
    try:
        try:
            raise cause
        except Exception as exc:
            raise StorageUnavailable(message) from exc
    except StorageUnavailable as wrapped:
        return wrapped


def test_only_transient_failures_count_as_transient():
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert is_transient(_wrapped(unreachable))
    slow_down = ClientError(
        {
            "Error": {"Code": "SlowDown"},
            "ResponseMetadata": {"HTTPStatusCode": 503},
        },
        "PutObject",
    )
    assert is_transient(_wrapped(slow_down))
    missing = ClientError(
        {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
        "GetObject",
    )
    assert not is_transient(_wrapped(missing))
    assert not is_transient(ArchiveCorrupted("chunk 3 failed authentication"))
    assert not is_transient(KeyUnavailable("no key k9"))
    assert is_transient(ConnectionResetError())
