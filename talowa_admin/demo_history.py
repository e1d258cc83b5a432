"""The demo's history: backups, a verification, a finished recovery run, an export.

``setup_demo`` calls ``add_backup_history`` so that every admin page of the
backup and recovery parts shows something on a fresh ``make run``. It adds
nothing when any backup exists already (a re-run, or a database in use).
All of it goes through the services, so the audit trail records it as it
would record real work.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from backups.models import Backup, ExportJob
from backups.services import (
    create_full_backup,
    create_incremental_backup,
    exporting,
    verify_backup,
)
from messaging.models import Message
from recovery.services.plans import execute_disaster_recovery

ACTOR = "command:setup_demo"
EDITS_PER_INCREMENTAL = 25


def add_backup_history(*, end_user: str, operator: str) -> dict[str, Any] | None:
    """Take full and incremental backups, verify, restore and export; report ids.

    Returns None, doing nothing, when a backup exists already.
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
    second = create_full_backup(note="demo: second full backup", actor=ACTOR)
    asha = users.filter(username=end_user).first()
    user_backup = (
        create_full_backup(user=asha, note="demo: one user's data", actor=ACTOR)
        if asha
        else None
    )
    for backup in Backup.objects.filter(pk__in=[first, second]):
        verify_backup(backup, actor=ACTOR)
    run = execute_disaster_recovery(backup_id=second, actor=ACTOR)
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
