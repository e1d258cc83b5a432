"""django-q2 task functions of the recovery app: thin, given ids, raising on failure."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from recovery.exceptions import RecoveryError
from recovery.models import RecoveryRun, RestoreDrill
from recovery.services import health
from recovery.services.drills import run_restore_drill
from recovery.services.maintenance import perform_system_maintenance
from recovery.services.plans import execute_disaster_recovery, rollback_restore
from recovery.services.restoring import restore_from_backup
from talowa_admin.queue import user_by_id


def run_recovery(run_id: int, actor_id: int | None = None) -> str:
    """Execute queued recovery run ``run_id``; raise if it did not complete."""
    run = RecoveryRun.objects.select_related("plan").get(pk=run_id)
    options = run.options
    users = get_user_model().objects
    user = users.get(username=options["user"]) if options.get("user") else None
    result = execute_disaster_recovery(
        backup_id=run.backup_id,
        validate_before_restore=options.get("validate_before_restore", True),
        create_pre_restore_backup=options.get("create_pre_restore_backup", True),
        user=user,
        data_types=options.get("data_types"),
        keep_past_retention=options.get("keep_past_retention", False),
        run=run,
        actor=user_by_id(actor_id),
    )
    if result["status"] != RecoveryRun.Status.COMPLETED:
        raise RecoveryError(
            f"recovery run {run_id} {result['status']}: {result['error']}"
        )
    return f"recovery run {run_id} completed"


def roll_back_recovery(run_id: int, actor_id: int | None = None) -> str:
    """Roll back finished recovery run ``run_id`` from its pre-restore backup."""
    run = RecoveryRun.objects.get(pk=run_id)
    rollback_restore(run, actor=user_by_id(actor_id))
    return f"recovery run {run_id} rolled back"


def preview_restore(
    backup_id: str,
    actor_id: int | None = None,
    user_id: int | None = None,
    data_types: list[str] | None = None,
) -> dict:
    """Dry-run the restore of ``backup_id`` for the admin's confirmation page.

    ``user_id`` and ``data_types`` narrow it as they narrow the restore.
    Returns ``{"report": ...}``, or ``{"problem": ...}`` when the restore would
    be refused: that is the dry run's answer, not a failure of the task.
    """
    actor = user_by_id(actor_id)
    user = user_by_id(user_id)
    if user_id and user is None:
        return {"problem": f"the user with id {user_id} no longer exists"}
    try:
        report = restore_from_backup(
            backup_id, user=user, data_types=data_types, dry_run=True, actor=actor
        )
    except RecoveryError as exc:
        return {"problem": str(exc)}
    return {"report": report}


def restore_drill(actor_id: int | None = None) -> str:
    """Run a restore drill of the newest chain; raise if it did not pass.

    ``actor_id`` is the administrator who asked for it; the weekly schedule
    gives none.
    """
    actor = user_by_id(actor_id) if actor_id else "schedule:restore_drill"
    drill = run_restore_drill(actor=actor)
    if drill.status != RestoreDrill.Status.PASSED:
        raise RecoveryError(f"restore drill {drill.pk} failed: {drill.error}")
    return (
        f"restore drill {drill.pk} of {drill.backup_id} passed, "
        f"RTO {drill.rto_seconds} s"
    )


def check_system_health() -> str:
    """Check the system's health, store it and send the alerts that are due."""
    result = health.check_system_health()
    return f"health: {result['overall']}"


def run_maintenance(actor_id: int | None = None) -> str:
    """Run every step of the system maintenance; raise if a step failed."""
    result = perform_system_maintenance(actor=user_by_id(actor_id) or "worker")
    if result["status"] != "completed":
        failed = [n for n, s in result["steps"].items() if s["status"] == "failed"]
        raise RecoveryError(
            f"maintenance run {result['run']} failed in: {', '.join(failed)}"
        )
    return f"maintenance run {result['run']} completed"
