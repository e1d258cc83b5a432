"""Recovery plans in the admin: steps from menus, and "Run this plan"."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from backups.services import create_full_backup
from messaging.models import Message
from recovery.models import RecoveryPlan, RecoveryRun
from recovery.services.plans import default_plan
from talowa_admin.models import AuditEvent
from talowa_admin.roles import BACKUP_OPERATOR, BACKUP_VIEWER, RECOVERY_ADMIN
from tests.backups.conftest import TELUGU

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:recovery_recoveryplan_changelist"


def plan_form(*steps: str, name: str = "Messages only") -> dict[str, str]:
    form = {"name": name, "description": ""}
    for index in range(6):
        form[f"steps_{index}"] = steps[index] if index < len(steps) else ""
    return form


def test_a_plan_is_built_from_known_steps_in_order(client, role_user):
    client.force_login(role_user(RECOVERY_ADMIN))
    add = reverse("admin:recovery_recoveryplan_add")
    page = client.get(add).content.decode()
    assert 'name="steps_0"' in page and '<option value="restore">' in page
    response = client.post(add, plan_form("restore", "", "verify_chain", "notify"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    plan = RecoveryPlan.objects.get(name="Messages only")
    assert [step["action"] for step in plan.steps] == [
        "restore",
        "verify_chain",
        "notify",
    ]
    # The plan's page shows its steps in the menus, in order.
    change = reverse("admin:recovery_recoveryplan_change", args=[plan.pk])
    page = client.get(change).content.decode()
    menus = [page.index(f'name="steps_{index}"') for index in range(4)]
    for index, action in enumerate(["restore", "verify_chain", "notify", ""]):
        menu = page[menus[index] : page.index("</select>", menus[index])]
        assert f'<option value="{action}" selected>' in menu, (index, action)
    # Reorder and remove by changing the menus.
    client.post(change, plan_form("verify_chain", "restore"))
    plan.refresh_from_db()
    assert [step["action"] for step in plan.steps] == ["verify_chain", "restore"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (("restore", "drop_tables"), "Unknown step &quot;drop_tables&quot;"),
        ((), "A plan needs at least one step."),
        (("restore", "restore"), "appears more than once"),
        (("verify_chain", "notify"), "A recovery plan must restore"),
    ],
)
def test_the_plan_form_refuses_bad_steps(client, role_user, steps, message):
    client.force_login(role_user(RECOVERY_ADMIN))
    response = client.post(
        reverse("admin:recovery_recoveryplan_add"), plan_form(*steps)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RecoveryPlan.objects.filter(name="Messages only").exists()


def run_plan(client, plan, **fields):
    return client.post(
        reverse(CHANGELIST),
        {"action": "run_plan", ACTION_CHECKBOX_NAME: [plan.pk], **fields},
    )


def test_run_this_plan_asks_then_queues_the_run(client, role_user, world, sync_tasks):
    backup_id = create_full_backup()
    Message.objects.filter(body=TELUGU).update(body="changed after the backup")
    plan = default_plan()
    admin = role_user(RECOVERY_ADMIN)
    client.force_login(admin)
    confirm = run_plan(client, plan)
    assert confirm.status_code == 200
    assert 'id="confirm-run-plan"' in confirm.content.decode()
    assert not RecoveryRun.objects.exists()

    response = run_plan(client, plan, confirmed="yes", backup=backup_id)
    run = RecoveryRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:recovery_recoveryrun_change", args=[run.pk]
    )
    assert run.plan == plan and run.backup_id == backup_id
    assert run.status == RecoveryRun.Status.COMPLETED
    assert Message.objects.filter(body=TELUGU).exists()
    event = AuditEvent.objects.get(action="recovery.plan_queue")
    assert event.actor == admin and event.details["backup"] == backup_id


def test_run_this_plan_refuses_an_unknown_backup(client, role_user, world):
    create_full_backup()
    client.force_login(role_user(RECOVERY_ADMIN))
    response = run_plan(client, default_plan(), confirmed="yes", backup="backup_x")
    assert response.status_code == 400
    assert "Choose a completed system backup" in response.content.decode()
    assert not RecoveryRun.objects.exists()


@pytest.mark.parametrize("role", [BACKUP_VIEWER, BACKUP_OPERATOR])
def test_only_recovery_admins_run_plans(client, role_user, world, role):
    backup_id = create_full_backup()
    plan = default_plan()
    client.force_login(role_user(role))
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert "run_plan" not in listing
    run_plan(client, plan, confirmed="yes", backup=backup_id)
    assert not RecoveryRun.objects.exists()
    page = client.get(reverse("admin:recovery_recoveryplan_change", args=[plan.pk]))
    assert page.status_code == 200
    assert 'id="plan-steps"' in page.content.decode()
    assert 'name="steps_0"' not in page.content.decode()
