from __future__ import annotations

import pytest
from django.test import RequestFactory
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
