"""The demo's history, so that every admin page shows something on ``make run``.

``setup_demo`` calls ``add_demo_history``, which adds, each part only while its
own table is empty (so a re-run adds nothing and a database in use keeps what
it has): backups (full, incremental, one user's), their verification, a
finished recovery run and an export (``add_backup_history``); a run of the
incremental backup schedule; retention policies for a user and a
conversation, a legal bound and a legal hold; a retention cleanup (which
archives what the new policies put past retention); a restore drill; a
system maintenance; a storage migration run; and a health check.

All of it is real work done through the services, so the audit trail records
it as it would record real work, with one exception: a health chart needs
days of checks, so ``add_health_history`` also stores one snapshot a day for
the 89 days before today, each marked "Demo history" in its detail and
recommendation. Nothing else is backdated or invented.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from backups.models import (
    Backup,
    BackupSchedule,
    BackupScheduleRun,
    ExportJob,
    StorageMigration,
)
from backups.services import (
    create_full_backup,
    create_incremental_backup,
    exporting,
    verify_backup,
)
from backups.services.migrating import backups_to_move, migrate_backups, target_alias
from backups.services.scheduling.defaults import INCREMENTAL
from backups.services.scheduling.runs import run_backup_schedule
from messaging.models import Conversation, Message
from recovery.models import HealthSnapshot, MaintenanceRun, RestoreDrill
from recovery.services import (
    check_system_health,
    perform_system_maintenance,
    run_restore_drill,
)
from recovery.services.plans import execute_disaster_recovery
from retention.models import CleanupRun, LegalBound, LegalHold, RetentionPolicy
from retention.services import (
    cleanup_expired_messages,
    save_legal_bound,
    save_legal_hold,
    set_retention_policy,
)

ACTOR = "command:setup_demo"
EDITS_PER_INCREMENTAL = 25
# asha keeps her direct messages and media shorter than the system default,
# one group conversation its messages shorter still; both inside the bounds.
USER_PERIODS = {"regular_messages": 120, "media_files": 60, "call_history": 90}
CONVERSATION_PERIODS = {"group_messages": 60}
CALL_HISTORY_BOUND = {"min_days": 30, "max_days": 730}
HOLD_DAYS = 180
HEALTH_HISTORY_DAYS = 90
DEMO_MARK = "Demo history (made up by setup_demo, not measured)"
# Days ago on which the made-up history shows a problem, per component.
DEMO_INCIDENTS = {
    "backups": {
        12: "The newest backup was 30 hours old: the nightly backup was late.",
        13: "The newest backup was 54 hours old: the nightly backup was late.",
    },
    "space": {40: "9% of the backup disk was free."},
    "workers": {63: "No worker cluster answered for 20 minutes."},
}


def add_demo_history(*, end_user: str, operator: str) -> dict[str, Any] | None:
    """Add each part of the demo's history whose table is empty; report them.

    Returns None when every part was there already.
    """
    users = get_user_model().objects
    asha = users.filter(username=end_user).first()
    added: dict[str, Any] = {}
    parts = (
        ("backups", lambda: add_backup_history(end_user=end_user, operator=operator)),
        ("schedule_run", _schedule_run),
        ("retention_policies", lambda: _retention_policies(asha)),
        ("legal_bound", _legal_bound),
        ("legal_hold", lambda: _legal_hold(asha)),
        ("cleanup", _cleanup),
        ("restore_drill", _restore_drill),
        ("maintenance", _maintenance),
        ("storage_migration", _storage_migration),
        ("health", add_health_history),
    )
    for name, part in parts:
        outcome = part()
        if outcome is not None:
            added[name] = outcome
    return added or None


def add_backup_history(*, end_user: str, operator: str) -> dict[str, Any] | None:
    """Take full and incremental backups, verify, restore and export; report ids.

    The restore comes before the second full backup: a restore closes the
    chain it restored, so the schedule's next run builds an incremental on
    the second full backup. Returns None, doing nothing, when a backup exists
    already.
    """
    if Backup.objects.exists():
        return None
    users = get_user_model().objects
    first = create_full_backup(note="demo: first full backup", actor=ACTOR)
    increments = []
    for round_number in (1, 2):
        _edit_some_messages(round_number)
        increments.append(
            create_incremental_backup(
                note=f"demo: changes, round {round_number}", actor=ACTOR
            )
        )
    run = execute_disaster_recovery(backup_id=increments[-1], actor=ACTOR)
    second = create_full_backup(note="demo: second full backup", actor=ACTOR)
    asha = users.filter(username=end_user).first()
    user_backup = (
        create_full_backup(user=asha, note="demo: one user's data", actor=ACTOR)
        if asha
        else None
    )
    for backup in Backup.objects.filter(pk__in=[first, second]):
        verify_backup(backup, actor=ACTOR)
    export = _export_asked_by_operator(asha, users.filter(username=operator).first())
    return {
        "full": [first, second],
        "incremental": increments,
        "user_backup": user_backup,
        "recovery_run": {"status": run["status"]},
        "export": export,
    }


def _edit_some_messages(round_number: int) -> None:
    ids = list(
        Message.objects.order_by("id").values_list("id", flat=True)[
            : EDITS_PER_INCREMENTAL * round_number : round_number
        ]
    )
    Message.objects.filter(pk__in=ids).update(is_edited=True, updated_at=timezone.now())


def _export_asked_by_operator(user: Any, operator: Any) -> int | None:
    """An export of ``user``'s data that the operator asked for (downloadable)."""
    if user is None or operator is None:
        return None
    result = exporting.export_user_data(user, format="html", actor=operator)
    ExportJob.objects.filter(pk=result.export_id).update(requested_by=operator)
    return result.export_id


def _schedule_run() -> dict[str, Any] | None:
    """One run of the incremental schedule, as its worker would run it."""
    schedule = BackupSchedule.objects.filter(builtin=INCREMENTAL).first()
    if schedule is None or BackupScheduleRun.objects.exists():
        return None
    run = run_backup_schedule(schedule_id=schedule.pk)
    if run is None:
        return None
    return {"run": run.pk, "result": run.result, "backup": run.backup_id}


def _retention_policies(asha: Any) -> dict[str, Any] | None:
    """A user's and a group conversation's own periods, shorter than the default."""
    if RetentionPolicy.objects.exists():
        return None
    group = (
        Conversation.objects.filter(kind=Conversation.Kind.GROUP).order_by("id").first()
    )
    owners = {
        "user": (asha, USER_PERIODS),
        "conversation": (group, CONVERSATION_PERIODS),
    }
    added = {}
    for entity_type, (entity, periods) in owners.items():
        if entity is not None:
            policy = set_retention_policy(
                entity_id=entity.pk,
                entity_type=entity_type,
                retention_periods=periods,
                actor=ACTOR,
            )
            added[entity_type] = policy.pk
    return added or None


def _legal_bound() -> dict[str, Any] | None:
    """A legal minimum and maximum for call history."""
    if LegalBound.objects.exists():
        return None
    bound = save_legal_bound(
        bound=LegalBound(
            retention_type="call_history",
            reason="demo: call records are kept 30 days to 2 years by law",
            **CALL_HISTORY_BOUND,
        ),
        actor=ACTOR,
    )
    return {"bound": bound.pk}


def _legal_hold(asha: Any) -> dict[str, Any] | None:
    """A hold on one seeded user (not asha, whose data cleanup should reach)."""
    if LegalHold.objects.exists():
        return None
    users = get_user_model().objects.filter(is_staff=False).order_by("id")
    held = users.exclude(pk=getattr(asha, "pk", None)).first()
    if held is None:
        return None
    hold = save_legal_hold(
        hold=LegalHold(
            user=held,
            reason="demo: records requested in a dispute",
            until=timezone.now() + timedelta(days=HOLD_DAYS),
        ),
        actor=ACTOR,
    )
    return {"hold": hold.pk, "user": held.username}


def _cleanup() -> dict[str, Any] | None:
    """Apply retention: archives what the policies above put past retention."""
    if CleanupRun.objects.exists():
        return None
    result = cleanup_expired_messages(actor=ACTOR)
    return {k: result[k] for k in ("run", "deleted", "batch")}


def _restore_drill() -> dict[str, Any] | None:
    """Restore the newest chain into a scratch copy and compare it."""
    if RestoreDrill.objects.exists() or not Backup.objects.exists():
        return None
    drill = run_restore_drill(actor=ACTOR)
    return {"drill": drill.pk, "status": drill.status, "rto_seconds": drill.rto_seconds}


def _maintenance() -> dict[str, Any] | None:
    """The brief's system maintenance, every step, for real."""
    if MaintenanceRun.objects.exists():
        return None
    result = perform_system_maintenance(actor=ACTOR)
    return {"run": result["run"], "status": result["status"]}


def _storage_migration() -> dict[str, Any] | None:
    """``migrate_backups --to file``: the demo's backups are there already.

    A real run that finds nothing to move; it shows the page's columns. Not
    run when backups live elsewhere (S3): the demo copies no one's backups.
    """
    if StorageMigration.objects.exists() or backups_to_move(target_alias("file")):
        return None
    result = migrate_backups(to="file", actor=ACTOR)
    return {"run": result["run"], "status": result["status"]}


def add_health_history(*, now=None) -> dict[str, Any] | None:
    """A real health check, and one made-up snapshot a day for the days before.

    The made-up snapshots copy each component's threshold from the real check
    and are healthy but for ``DEMO_INCIDENTS``; each says it is demo history.
    """
    if HealthSnapshot.objects.exists():
        return None
    result = check_system_health()
    now = now or timezone.now()
    made_up = []
    for days_ago in range(1, HEALTH_HISTORY_DAYS):
        check_id = uuid.uuid4()
        checked_at = now - timedelta(days=days_ago)
        for name, component in result["components"].items():
            incident = DEMO_INCIDENTS.get(name, {}).get(days_ago)
            made_up.append(
                HealthSnapshot(
                    check_id=check_id,
                    component=name,
                    status="degraded" if incident else "healthy",
                    threshold=component["threshold"][:100],
                    detail=f"{DEMO_MARK}: {incident or 'healthy'}",
                    recommendation=DEMO_MARK if incident else "",
                    checked_at=checked_at,
                )
            )
    HealthSnapshot.objects.bulk_create(made_up)
    return {"overall": result["overall"], "demo_snapshots": len(made_up)}
