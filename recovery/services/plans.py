"""Disaster-recovery plans and runs (the brief's ``executeDisasterRecovery``).

A plan is an ordered list of steps; a run records each step's status, timing
and outcome as it goes, committed step by step so the admin can follow it.
The data-changing step is one ``restore_from_backup`` transaction: a failure
at any step leaves the data as the last completed step left it, and the run
says which step failed and why.

A run names its worker and renews its heartbeat while it runs; the restore
step records ``applied_at`` in the transaction that changes the data, and
ends there. Every restore step is followed in the run by a ``retention`` step
(not a step of the plan: it belongs to the restore), which archives the
restored rows already past their retention in batches of their own, so the
run shows that the data is already restored while they are archived. A run
whose worker died (``talowa_admin.liveness``) is failed by ``mark_dead_runs``,
which the next run, a rollback and the admin pages call; if its restore was
applied, the reason says so and ``rollback_restore`` undoes it as for any
failed run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from backups.models import Backup
from recovery.exceptions import RecoveryError, RestoreRefused
from recovery.models import RecoveryPlan, RecoveryRun
from recovery.services.integrity import validate_data_integrity
from recovery.services.restoring import (
    resolve_target,
    restore_from_backup,
    take_pre_restore_backup,
    validate_chain,
)
from retention.services import retention_after_restore
from talowa_admin import liveness, locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

DEFAULT_PLAN_NAME = "Full system recovery"
DEFAULT_STEPS = [
    {"action": "verify_chain", "title": "Verify the backup chain"},
    {"action": "pre_restore_backup", "title": "Back up the current data"},
    {
        "action": "restore",
        "title": "Restore conversations, messages, calls, media",
        "data_types": ["conversations", "messages", "call_history", "media_files"],
    },
    {"action": "validate_integrity", "title": "Validate the restored data"},
    {"action": "notify", "title": "Record the outcome"},
]
ACTIONS = {step["action"] for step in DEFAULT_STEPS}
RETENTION_STEP = {
    "action": "retention",
    "title": "Archive restored rows already past their retention",
}


def default_plan() -> RecoveryPlan:
    plan = RecoveryPlan.objects.filter(is_default=True).first()
    if plan is None:
        plan, _ = RecoveryPlan.objects.get_or_create(
            name=DEFAULT_PLAN_NAME,
            defaults={"steps": DEFAULT_STEPS, "is_default": True},
        )
    return plan


def start_recovery_run(
    *,
    backup_id: str,
    plan: RecoveryPlan | None = None,
    options: dict | None = None,
    actor: Any = None,
) -> RecoveryRun:
    """Record a queued run of ``plan`` for ``backup_id``."""
    plan = plan or default_plan()
    steps = []
    for step in plan.steps:
        steps.append({**step, "status": "pending"})
        if step["action"] == "restore":
            steps.append({**RETENTION_STEP, "status": "pending"})
    return RecoveryRun.objects.create(
        plan=plan,
        backup_id=backup_id,
        options=options or {},
        steps=steps,
        requested_by=actor if hasattr(actor, "get_username") else None,
    )


def execute_disaster_recovery(
    *,
    backup_id: str,
    validate_before_restore: bool = True,
    create_pre_restore_backup: bool = True,
    user: Any = None,
    data_types: list[str] | None = None,
    keep_past_retention: bool = False,
    plan: RecoveryPlan | None = None,
    run: RecoveryRun | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Run a recovery plan to restore ``backup_id``; return status and steps.

    ``user`` and ``data_types`` narrow the restore step (the default plan
    restores every data type of the whole system). Restored rows already past
    their retention are archived again unless ``keep_past_retention``.
    Refuses before the first step when the backup cannot be restored at all.
    """
    try:
        resolve_target(backup_id, user=user, data_types=data_types)
    except RecoveryError as exc:
        if run is not None:
            run.status, run.error = RecoveryRun.Status.FAILED, str(exc)
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
        raise
    run = run or start_recovery_run(
        backup_id=backup_id,
        plan=plan,
        actor=actor,
        options={
            "validate_before_restore": validate_before_restore,
            "create_pre_restore_backup": create_pre_restore_backup,
            "user": user.get_username() if user else None,
            "data_types": data_types,
            "keep_past_retention": keep_past_retention,
        },
    )
    mark_dead_runs()
    run.status, run.started_at = RecoveryRun.Status.RUNNING, timezone.now()
    run.worker, run.heartbeat_at = liveness.this_worker(), run.started_at
    run.save(update_fields=["status", "started_at", "worker", "heartbeat_at"])
    context = {
        "user": user,
        "actor": actor,
        "run": run,
        "data_types": data_types,
        "validate": validate_before_restore,
        "pre_restore": create_pre_restore_backup,
        "keep_past_retention": keep_past_retention,
    }
    with liveness.Heartbeat(RecoveryRun.objects.filter(pk=run.pk)):
        for index in range(len(run.steps)):
            if not _run_step(run, index, context):
                break
        else:
            run.status = RecoveryRun.Status.COMPLETED
    run.finished_at = timezone.now()
    run.save(
        update_fields=[
            "status",
            "finished_at",
            "steps",
            "log",
            "error",
            "pre_restore_backup_id",
        ]
    )
    record_audit_event(
        actor=actor,
        action="recovery.run",
        target=run,
        details={"backup": backup_id, "status": run.status, "error": run.error},
    )
    return describe_run(run)


def _run_step(run: RecoveryRun, index: int, context: dict) -> bool:
    step = run.steps[index]
    if step["action"] == "pre_restore_backup" and not context["pre_restore"]:
        _finish_step(run, index, "skipped", "not requested", 0.0)
        return True
    if step["action"] == "verify_chain" and not context["validate"]:
        _finish_step(run, index, "skipped", "not requested", 0.0)
        return True
    step["status"] = "running"
    run.save(update_fields=["steps"])
    started = time.monotonic()
    try:
        outcome = STEP_FUNCTIONS[step["action"]](run, step, context)
    except RecoveryError as exc:
        _finish_step(run, index, "failed", str(exc), time.monotonic() - started)
        run.status, run.error = RecoveryRun.Status.FAILED, str(exc)
        return False
    _finish_step(run, index, "completed", outcome, time.monotonic() - started)
    return True


def _finish_step(
    run: RecoveryRun, index: int, status: str, outcome: Any, seconds: float
) -> None:
    step = run.steps[index]
    step.update(status=status, seconds=round(seconds, 3), result=outcome)
    line = f"{timezone.now():%H:%M:%S} {step.get('title', step['action'])}: {status}"
    run.log = f"{run.log}{line}\n"
    run.save(update_fields=["steps", "log"])
    logger.info("recovery run %s: %s", run.pk, line)


def _verify(run: RecoveryRun, step: dict, context: dict) -> str:
    target = resolve_target(run.backup_id, user=context["user"])
    validate_chain(target.chain, actor=context["actor"])
    return f"{len(target.chain)} backup(s) verified"


def _pre_restore(run: RecoveryRun, step: dict, context: dict) -> str:
    target = resolve_target(
        run.backup_id, user=context["user"], data_types=context["data_types"]
    )
    backup = take_pre_restore_backup(target, actor=context["actor"])
    run.pre_restore_backup_id = backup.id
    run.save(update_fields=["pre_restore_backup_id"])
    return backup.id


def _restore(run: RecoveryRun, step: dict, context: dict) -> dict:
    target = resolve_target(
        run.backup_id,
        user=context["user"],
        data_types=context["data_types"] or _held(run, step.get("data_types")),
    )
    # Runs recorded before the retention step existed archive in this step.
    deferred = any(s["action"] == RETENTION_STEP["action"] for s in run.steps)
    result = restore_from_backup(
        run.backup_id,
        user=target.user,
        data_types=target.data_types,
        validate_before_restore=False,
        create_pre_restore_backup=False,
        actor=context["actor"],
        on_applied=lambda applied: _record_applied(run, step, applied),
        keep_past_retention=context.get("keep_past_retention", False),
        defer_retention=deferred,
    )
    context["restored"] = target
    outcome = {"tables": result["tables"], "media": result["media"]}
    if not deferred:
        outcome["retention"] = result.get("retention")
    return outcome


def _record_applied(run: RecoveryRun, step: dict, result: dict) -> None:
    """Record, in the restore's own transaction, that its data change is in."""
    run.applied_at = timezone.now()
    step["applied"] = {
        "tables": result["tables"],
        "closed_chains": result["closed_chains"],
    }
    run.log = f"{run.log}{run.applied_at:%H:%M:%S} restore applied\n"
    run.save(update_fields=["applied_at", "steps", "log"])


def _retention(run: RecoveryRun, step: dict, context: dict) -> dict:
    """Archive what the restore step brought back past its retention.

    Under the restore lock, as the restore step was: no other restore runs
    in between. A run killed here keeps its restored data; the rows not yet
    archived are taken by the next retention cleanup.
    """
    target = context.get("restored")
    if target is None:
        return {"archived": {}, "note": "nothing was restored"}
    purpose = f"retention after the restore of {run.backup_id}"
    try:
        with locks.hold(locks.RESTORE_LOCK, purpose=purpose):
            return retention_after_restore(
                backup_id=run.backup_id,
                user_id=target.user.pk if target.user else None,
                data_types=target.data_types,
                keep=context.get("keep_past_retention", False),
                actor=context["actor"],
            )
    except locks.LockHeld as exc:
        raise RecoveryError(
            f"{exc}; the restore is in, and the next retention cleanup archives "
            "its rows past their retention"
        ) from exc


def _held(run: RecoveryRun, wanted: list[str] | None) -> list[str] | None:
    """The plan's data types that the backup holds (a plan names them all)."""
    if wanted is None:
        return None
    backup = Backup.objects.get(pk=run.backup_id)
    return [name for name in wanted if name in backup.data_types] or None


def _integrity(run: RecoveryRun, step: dict, context: dict) -> dict:
    report = validate_data_integrity()
    if report["status"] == "error":
        problems = "; ".join(
            c["message"] for c in report["checks"] if c["status"] == "error"
        )
        raise RecoveryError(f"the restored data failed validation: {problems}")
    return report


def _notify(run: RecoveryRun, step: dict, context: dict) -> str:
    logger.warning("recovery run %s of %s finished its steps", run.pk, run.backup_id)
    return "recorded in the audit trail and the log"


STEP_FUNCTIONS: dict[str, Callable[[RecoveryRun, dict, dict], Any]] = {
    "verify_chain": _verify,
    "pre_restore_backup": _pre_restore,
    "restore": _restore,
    "retention": _retention,
    "validate_integrity": _integrity,
    "notify": _notify,
}


def mark_dead_runs() -> list[int]:
    """Fail running recovery runs whose worker died; return their ids."""
    running = RecoveryRun.objects.filter(status=RecoveryRun.Status.RUNNING)
    return [run.pk for run in liveness.dead(running) if _fail_dead_run(run)]


def _fail_dead_run(run: RecoveryRun) -> bool:
    reason = liveness.died_reason(run)
    if run.applied_at:
        reason += (
            f"; its restore was applied at {run.applied_at:%Y-%m-%d %H:%M:%S} UTC"
            + (
                f" (restore_backup --rollback {run.pk} puts back what it replaced)"
                if run.pre_restore_backup_id
                else ""
            )
        )
    for step in run.steps:
        if step.get("status") == "running":
            step.update(status="failed", result=liveness.WORKER_DIED)
    now = timezone.now()
    failed = RecoveryRun.objects.filter(
        pk=run.pk, status=RecoveryRun.Status.RUNNING, worker=run.worker
    ).update(
        status=RecoveryRun.Status.FAILED,
        error=reason,
        finished_at=now,
        steps=run.steps,
        log=f"{run.log}{now:%H:%M:%S} {reason}\n",
    )
    if failed:
        logger.warning("recovery run %s failed: %s", run.pk, reason)
        record_audit_event(
            actor="system",
            action="recovery.run",
            target=run,
            details={"backup": run.backup_id, "status": "failed", "error": reason},
        )
    return bool(failed)


def rollback_restore(run: RecoveryRun, *, actor: Any = None) -> dict[str, Any]:
    """Put back the data the run replaced, from its pre-restore backup.

    Exactly as it was: rows of it already past their retention were live when
    the run began and stay for the retention cleanup to take (under the
    policies and holds of its day), rather than being archived by the undo.
    """
    mark_dead_runs()
    run.refresh_from_db()
    if run.status not in {RecoveryRun.Status.COMPLETED, RecoveryRun.Status.FAILED}:
        raise RestoreRefused(
            f"run {run.pk} is {run.status}; only a finished run can be rolled back"
        )
    if not run.pre_restore_backup_id:
        raise RestoreRefused(
            f"run {run.pk} took no pre-restore backup, so there is "
            "nothing to roll back to"
        )
    pre = Backup.objects.filter(pk=run.pre_restore_backup_id).first()
    user = pre.owner if pre is not None and pre.scope == "user" else None
    result = restore_from_backup(
        run.pre_restore_backup_id,
        user=user,
        create_pre_restore_backup=False,
        actor=actor,
        on_applied=lambda applied: _record_rolled_back(run),
        keep_past_retention=True,
    )
    record_audit_event(
        actor=actor,
        action="recovery.rollback",
        target=run,
        details={"restored": run.pre_restore_backup_id},
    )
    return result


def _record_rolled_back(run: RecoveryRun) -> None:
    """Mark ``run`` rolled back, in the rollback's own transaction."""
    run.status = RecoveryRun.Status.ROLLED_BACK
    run.log = (
        f"{run.log}{timezone.now():%H:%M:%S} rolled back to "
        f"{run.pre_restore_backup_id}\n"
    )
    run.save(update_fields=["status", "log"])


def describe_run(run: RecoveryRun) -> dict[str, Any]:
    return {
        "status": run.status,
        "run_id": run.pk,
        "backup_id": run.backup_id,
        "pre_restore_backup": run.pre_restore_backup_id or None,
        "applied_at": run.applied_at.isoformat() if run.applied_at else None,
        "steps": run.steps,
        "error": run.error,
    }
