"""The queue helpers: queue and audit in one call; how many tasks wait,
without disturbing the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ

from talowa_admin import queue
from talowa_admin.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_of(django_user_model):
    user = django_user_model.objects.create_user("operator", password="x" * 12)
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.7")
    request.user = user
    return request


def test_a_job_is_queued_then_audited_with_its_task(request_of):
    task_id = queue.enqueue_and_audit(
        "backups.tasks.run_backup",
        "full",
        None,
        request_of.user.pk,
        name="full backup by operator",
        group="backups",
        request=request_of,
        action="backup.queue",
        details={"kind": "full"},
    )
    waiting = OrmQ.objects.get()
    assert (waiting.task_id(), waiting.name(), waiting.group()) == (
        task_id,
        "full backup by operator",
        "backups",
    )
    assert waiting.args() == ("full", None, request_of.user.pk)
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.source_address) == (
        "backup.queue",
        request_of.user,
        "192.0.2.7",
    )
    assert event.details == {"kind": "full", "task": task_id}


def test_the_task_stays_out_of_the_details_when_asked(request_of):
    queue.enqueue_and_audit(
        "recovery.tasks.run_recovery",
        1,
        request_of.user.pk,
        name="restore backup_x",
        group="recovery",
        request=request_of,
        action="restore.queue",
        target=("recovery.recoveryrun", 1),
        details={"backup": "backup_x"},
        task_in_details=False,
    )
    event = AuditEvent.objects.get()
    assert (event.target_type, event.target_id) == ("recovery.recoveryrun", "1")
    assert event.details == {"backup": "backup_x"}


def test_the_count_is_the_brokers_waiting_tasks():
    assert queue.queued_count() == 0
    queue.enqueue("math.floor", 1.5, name="one", group="test")
    queue.enqueue("math.floor", 2.5, name="two", group="test")
    OrmQ.objects.create(  # taken by a worker: locked until later
        key=get_broker().list_key, payload="x", lock=timezone.now() + timedelta(1)
    )
    OrmQ.objects.create(key="another-cluster", payload="x", lock=timezone.now())
    assert queue.queued_count() == 2 == get_broker().queue_size()


@pytest.mark.postgres  # SQLite's in-memory test database ignores closing
@pytest.mark.django_db(transaction=True)
def test_counting_keeps_the_requests_database_connection(monkeypatch):
    # django-q2's ORM broker closes "old" connections when it is built and
    # asked. With a pool (production) a connection is old at once, so in a
    # request that handed it back and the next query borrowed one again.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # the pool's
    connection.close()
    connection.ensure_connection()
    before = connection.connection
    assert queue.queued_count() == 0
    assert connection.connection is before
