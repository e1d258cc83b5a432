"""A backup catalog and its history, written in bulk for the dashboard's benchmark.

``seed_backups`` adds catalog rows only (no archives: the dashboard, the
backup list and the status API read the catalog, never the storage), spread
over the last ``days`` days as a live system makes them: a system chain of a
full backup and hourly-ish incrementals, user backups of a few hundred users
in their own chains, about 3% failed, the chains older than 75 days expired,
a fifth of the completed ones verified. Each call adds its own chains, so a
catalog grows by calling it again.

``seed_history`` adds what does not grow with the backups: the default
schedules (through the scheduling service, so their django-q2 schedules
exist) and a few of their own, each schedule's runs, hourly health checks of
every component, daily retention cleanups, weekly restore drills and
maintenance runs, a few recovery runs.

Both are deterministic for a given ``seed``; both need Django set up. The
tests of the dashboard's query counts use them at small sizes.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from backups.models import (
    BACKUP_DATA_TYPES,
    Backup,
    BackupSchedule,
    BackupScheduleRun,
)
from backups.services.scheduling import create_backup_schedule, ensure_default_schedules
from recovery.models import HealthSnapshot, MaintenanceRun, RecoveryRun, RestoreDrill
from recovery.services.health_checks import CHECKS
from retention.models import CleanupRun

BATCH_SIZE = 2000
OWNERS = 300
EXPIRED_AFTER_DAYS = 75
CHAIN_LENGTH = {Backup.Scope.SYSTEM: 12, Backup.Scope.USER: 4}
MIB = 1024 * 1024


def seed_backups(count: int, *, days: int = 90, seed: int = 7) -> int:
    """Add ``count`` backups spread over the last ``days`` days; return the count."""
    rng = random.Random(f"{seed}:{Backup.objects.count()}")
    owners = list(
        get_user_model()
        .objects.filter(is_staff=False)
        .order_by("id")
        .values_list("id", flat=True)[:OWNERS]
    )
    now = timezone.now()
    start = now - timedelta(days=days)
    step = (now - start) / max(count, 1)
    heads: dict[Any, tuple[Backup, int]] = {}  # chain key -> (newest, length)
    rows = []
    for number in range(count):
        created = start + step * number + step * rng.random() * 0.9
        owner = rng.choice(owners) if owners and rng.random() < 0.6 else None
        rows.append(_backup(rng, created, owner, heads, now))
    with transaction.atomic():
        Backup.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _backup(rng, created, owner, heads, now) -> Backup:
    scope = Backup.Scope.USER if owner else Backup.Scope.SYSTEM
    head, length = heads.get(owner, (None, 0))
    incremental = head is not None and length < CHAIN_LENGTH[scope]
    failed = rng.random() < 0.03
    system = scope == Backup.Scope.SYSTEM
    if incremental:
        stored = rng.randint(64 * 1024, (6 if system else 1) * MIB)
    else:
        stored = (
            rng.randint(80 * MIB, 140 * MIB)
            if system
            else rng.randint(200 * 1024, 12 * MIB)
        )
    types = list(BACKUP_DATA_TYPES)
    if not system and rng.random() < 0.3:
        types = ["messages", "conversations"]
    seconds = stored / (40 * MIB) + rng.random() * 2
    backup = Backup(
        id=f"backup_{created:%Y%m%dT%H%M%S}_{rng.getrandbits(32):08x}",
        kind=Backup.Kind.INCREMENTAL if incremental else Backup.Kind.FULL,
        scope=scope,
        owner_id=owner,
        parent=head if incremental else None,
        status=Backup.Status.COMPLETED,
        data_types=types,
        watermark=created,
        counts={name: rng.randint(0, 50_000 if system else 400) for name in types},
        raw_bytes=stored * 3,
        compressed_bytes=stored - 32,
        stored_bytes=stored,
        sha256=f"{rng.getrandbits(256):064x}",
        storage="default",
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(seconds=seconds),
        note="benchmark catalog",
    )
    backup.object_key = f"archives/{backup.id}.tlwb"
    if failed:
        backup.status = Backup.Status.FAILED
        backup.stored_bytes = backup.compressed_bytes = 0
        backup.object_key = backup.sha256 = ""
        backup.error = "the backup storage refused the write (benchmark)"
        return backup  # a failed backup starts no chain and extends none
    if incremental:
        heads[owner] = (backup, length + 1)
        if head.status == Backup.Status.EXPIRED:
            backup.status = Backup.Status.EXPIRED
    else:
        heads[owner] = (backup, 1)
        if now - created > timedelta(days=EXPIRED_AFTER_DAYS):
            backup.status = Backup.Status.EXPIRED
    if backup.status == Backup.Status.COMPLETED and rng.random() < 0.2:
        backup.verified_at = created + timedelta(hours=1)
        backup.verify_ok = True
    return backup


def seed_history(*, days: int = 90, seed: int = 7) -> dict[str, int]:
    """Add schedules and their runs, health checks, cleanups, drills; say how many."""
    rng = random.Random(seed)
    now = timezone.now()
    ensure_default_schedules(actor="command:bench")
    for name, interval, config in (
        ("nightly full", {"kind": "daily", "at": "02:30"}, {}),
        ("hourly changes", timedelta(hours=1), {"incremental": True}),
        ("weekly archive", {"kind": "weekly", "weekday": 6, "at": "04:00"}, {}),
    ):
        if not BackupSchedule.objects.filter(name=name).exists():
            create_backup_schedule(
                schedule_name=name, interval=interval, backup_config=config
            )
    made = {
        "schedule runs": _schedule_runs(rng, now, days),
        "health snapshots": _health(rng, now, days),
        "cleanup runs": _daily(now, days, _cleanup_run, rng),
        "restore drills": _weekly(now, days, _drill, rng),
        "maintenance runs": _weekly(now, days, _maintenance, rng),
        "recovery runs": _recovery_runs(now),
    }
    return made


def _schedule_runs(rng, now, days) -> int:
    rows = []
    for schedule in BackupSchedule.objects.order_by("id"):
        period = timedelta(hours=1) if schedule.kind == "hours" else timedelta(days=1)
        slot = now - timedelta(days=days)
        while slot < now:
            ok = rng.random() > 0.02
            rows.append(
                BackupScheduleRun(
                    schedule=schedule,
                    slot=slot,
                    trigger=BackupScheduleRun.Trigger.SCHEDULED,
                    result=(
                        BackupScheduleRun.Result.SUCCEEDED
                        if ok
                        else BackupScheduleRun.Result.FAILED
                    ),
                    message="" if ok else "the backup storage refused the write",
                    attempts=1,
                    queued_at=slot,
                    started_at=slot,
                    finished_at=slot + timedelta(seconds=rng.randint(2, 90)),
                )
            )
            slot += period
        BackupSchedule.objects.filter(pk=schedule.pk).update(
            last_run_at=rows[-1].finished_at
        )
    BackupScheduleRun.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _health(rng, now, days) -> int:
    rows = []
    for hour in range(days * 24, 0, -1):
        at = now - timedelta(hours=hour)
        check_id = uuid.UUID(int=rng.getrandbits(128))
        for check in CHECKS:
            degraded = rng.random() < 0.02
            rows.append(
                HealthSnapshot(
                    check_id=check_id,
                    component=check.name,
                    status="degraded" if degraded else "healthy",
                    value=round(rng.random() * 10, 2),
                    threshold="benchmark",
                    detail=f"{check.name} as seen at {at:%Y-%m-%d %H:%M}",
                    recommendation=f"Look at {check.name}." if degraded else "",
                    seconds=round(rng.random() / 10, 3),
                    checked_at=at,
                )
            )
    HealthSnapshot.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _daily(now, days, make, rng) -> int:
    rows = [make(rng, now - timedelta(days=day)) for day in range(days, 0, -1)]
    type(rows[0]).objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _weekly(now, days, make, rng) -> int:
    rows = [make(rng, now - timedelta(days=day)) for day in range(days, 0, -7)]
    type(rows[0]).objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _cleanup_run(rng, at) -> CleanupRun:
    counts = {
        "regular_messages": rng.randint(0, 5000),
        "missed_calls": rng.randint(0, 50),
    }
    return CleanupRun(
        started_at=at,
        finished_at=at + timedelta(seconds=30),
        status=CleanupRun.Status.COMPLETED,
        trigger="schedule",
        counts=counts,
        seconds=30.0,
    )


def _drill(rng, at) -> RestoreDrill:
    return RestoreDrill(
        backup_id=f"backup_{at:%Y%m%dT%H%M%S}_bench",
        chain=[f"backup_{at:%Y%m%dT%H%M%S}_bench"],
        engine="postgresql",
        status=RestoreDrill.Status.PASSED,
        rto_seconds=round(40 + rng.random() * 20, 1),
        verify_seconds=10.0,
        load_seconds=30.0,
        started_at=at,
        finished_at=at + timedelta(minutes=1),
    )


def _maintenance(rng, at) -> MaintenanceRun:
    return MaintenanceRun(
        status=MaintenanceRun.Status.COMPLETED,
        steps={"cleanup_expired_backups": {"ok": True}},
        actor_label="schedule",
        started_at=at,
        finished_at=at + timedelta(minutes=2),
    )


def _recovery_runs(now) -> int:
    newest = Backup.objects.filter(status=Backup.Status.COMPLETED).first()
    rows = [
        RecoveryRun(
            backup_id=newest.id if newest else "backup_none",
            status=RecoveryRun.Status.COMPLETED,
            created_at=now - timedelta(days=days),
            started_at=now - timedelta(days=days),
            finished_at=now - timedelta(days=days) + timedelta(minutes=3),
        )
        for days in (60, 30, 5)
    ]
    RecoveryRun.objects.bulk_create(rows)
    return len(rows)
