"""The backup catalog, schedules and export jobs.

The catalog mirrors what the backup storage holds: every archive is
self-describing, so the catalog can be rebuilt from the storage after a
disaster (see docs/archive-format.md).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from backups.storage import configured_alias

BACKUP_DATA_TYPES = ("messages", "conversations", "call_history", "media_files")


def new_backup_id() -> str:
    """Return a sortable, unguessable id such as ``backup_20261126T072038_1a2b3c4d``."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    return f"backup_{stamp}_{secrets.token_hex(4)}"


def all_backup_data_types() -> list[str]:
    return list(BACKUP_DATA_TYPES)


class Backup(models.Model):
    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    class Scope(models.TextChoices):
        SYSTEM = "system", "System"
        USER = "user", "User"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    id = models.CharField(primary_key=True, max_length=64, default=new_backup_id)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backups",
        help_text="The user whose data a user-scope backup holds.",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    data_types = models.JSONField(default=all_backup_data_types)
    watermark = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    raw_bytes = models.PositiveBigIntegerField(default=0)
    compressed_bytes = models.PositiveBigIntegerField(default=0)
    stored_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    storage = models.CharField(
        max_length=32,
        default=configured_alias,
        help_text="Alias of settings.STORAGES: where the archive and sidecars are.",
    )
    object_key = models.CharField(max_length=255, blank=True)
    key_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # While pending or running: "system" or "user:<id>", unique, so that two
    # backups of one scope never run at once; cleared (NULL, which a unique
    # constraint allows many times) when the backup ends.
    lock_key = models.CharField(  # noqa: DJ001
        max_length=32, null=True, blank=True, editable=False
    )
    worker = models.CharField(max_length=200, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_ok = models.BooleanField(null=True, blank=True)
    verify_error = models.TextField(blank=True)
    # The audit trail's head when the archive was written (its manifest's
    # "audit_head"): verify_audit_log checks the trail still reaches it.
    audit_head_event_id = models.PositiveBigIntegerField(
        null=True, blank=True, editable=False
    )
    audit_head_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("run_backup", "Can create backups"),
            ("verify_backup", "Can verify backups"),
            ("restore_backup", "Can restore backups"),
            ("expire_backup", "Can expire backups"),
            ("rotate_keys", "Can rotate backup keys"),
            ("export_data", "Can export users' data"),
        ]
        indexes = [models.Index(fields=["scope", "owner", "status", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["lock_key"], name="backup_one_per_scope"),
            models.CheckConstraint(
                condition=models.Q(scope="system", owner__isnull=True)
                | models.Q(scope="user"),
                name="backup_system_scope_has_no_owner",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="full", parent__isnull=True)
                | models.Q(kind="incremental", parent__isnull=False),
                name="backup_incremental_has_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_user_scope(self) -> bool:
        return self.scope == self.Scope.USER

    @property
    def sidecar_key(self) -> str:
        return f"{self.object_key}.key"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def audit_head(self) -> dict | None:
        """The audit trail's head as the manifest records it, or None."""
        if self.audit_head_event_id is None:
            return None
        return {"event_id": self.audit_head_event_id, "hash": self.audit_head_hash}

    @audit_head.setter
    def audit_head(self, head: dict | None) -> None:
        self.audit_head_event_id = head["event_id"] if head else None
        self.audit_head_hash = head["hash"] if head else ""


class BackupSchedule(models.Model):
    """The brief's named backup schedule: the single source of truth.

    Its django-q2 ``Schedule`` (``q_schedule_id``) is derived from this row by
    ``backups.services.scheduling`` whenever the row is created, changed,
    disabled or deleted, and again by ``setup_schedules`` at every deploy.
    """

    class Kind(models.TextChoices):
        MINUTES = "minutes", "Every N minutes"
        HOURS = "hours", "Every N hours"
        DAILY = "daily", "Daily at a time"
        WEEKLY = "weekly", "Weekly on a day, at a time"
        MONTHLY = "monthly", "Monthly on a day, at a time"

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        "runs", max_length=8, choices=Kind.choices, default=Kind.DAILY
    )
    every = models.PositiveIntegerField(
        null=True, blank=True, help_text="N, for every N minutes or hours."
    )
    at_time = models.TimeField(
        "at", null=True, blank=True, help_text="Local time of day (TIME_ZONE)."
    )
    weekday = models.PositiveSmallIntegerField(
        "on", null=True, blank=True, choices=Weekday.choices
    )
    day_of_month = models.PositiveSmallIntegerField(
        "day of the month", null=True, blank=True, help_text="1 to 28."
    )
    incremental = models.BooleanField(
        default=False,
        help_text="Back up only what changed since the scope's latest backup.",
    )
    full_every_days = models.PositiveSmallIntegerField(
        "full backup every (days)",
        null=True,
        blank=True,
        help_text="For incremental schedules: take a full backup instead when "
        "the latest full one is this many days old.",
    )
    data_types = models.JSONField(default=all_backup_data_types)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="user",
        help_text="Back up only this user's data; empty for the whole system.",
    )
    note = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    # The default schedules of ``setup_schedules`` carry a key, so a deploy
    # finds them even when an operator renamed them.
    builtin = models.CharField(max_length=32, blank=True, editable=False)
    q_schedule_id = models.BigIntegerField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_backup = models.ForeignKey(
        Backup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["builtin"],
                condition=~models.Q(builtin=""),
                name="backup_schedule_one_per_builtin",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BackupScheduleRun(models.Model):
    """One run of a schedule: when, what it made, and how it ended.

    A scheduled run carries its slot (the time django-q2 meant it for); the
    unique slot per schedule means two workers can never both run one slot.
    """

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CATCH_UP = "catch_up", "Catch-up after downtime"
        MANUAL = "manual", "Run now"

    class Result(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    schedule = models.ForeignKey(
        BackupSchedule, on_delete=models.CASCADE, related_name="runs"
    )
    slot = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    result = models.CharField(
        max_length=10, choices=Result.choices, default=Result.QUEUED
    )
    message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    backup = models.ForeignKey(
        Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # While running: who runs it (host:pid) and when it last said so
    # (talowa_admin.liveness).
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "slot"], name="backup_schedule_run_one_per_slot"
            ),
        ]
        indexes = [models.Index(fields=["schedule", "queued_at"])]

    def __str__(self) -> str:
        return f"{self.schedule} run {self.pk} ({self.result})"


class ExportJob(models.Model):
    """One user's data export: requested, produced by a worker, downloaded."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=10)
    data_types = models.JSONField(default=all_backup_data_types)
    include_metadata = models.BooleanField(default=True)
    # Which messages: only those the user sent, or whole conversations they
    # take part in (backups.exports.source says exactly which rows).
    scope = models.CharField(
        max_length=13,
        choices=[
            ("sent", "Only what they sent"),
            ("conversations", "Whole conversations"),
        ],
        default="sent",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    files = models.JSONField(default=list, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    backup = models.ForeignKey(
        Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # While running: who runs it (host:pid) and when it last said so
    # (talowa_admin.liveness).
    worker = models.CharField(max_length=200, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} of user {self.user_id}"


class StorageMigration(models.Model):
    """One run of ``migrate_backups``: its target, progress and problems.

    A run killed midway is resumed by the next ``migrate_backups`` to the same
    target; its items say how far each backup got.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
        FAILED = "failed", "Failed"

    target = models.CharField(max_length=32, help_text="Storage alias copied to.")
    delete_source = models.BooleanField(default=False)
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    backups_total = models.PositiveIntegerField(default=0)
    backups_done = models.PositiveIntegerField(default=0)
    objects_copied = models.PositiveIntegerField(default=0)
    objects_skipped = models.PositiveIntegerField(
        default=0, help_text="Already at the target and verified: not copied again."
    )
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_copied = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0, help_text="Time spent copying, all tries.")
    errors = models.JSONField(default=list, blank=True)
    resumed = models.PositiveIntegerField(default=0)
    requested_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"migration {self.pk} to {self.target}"

    @property
    def rate(self) -> float:
        """Bytes copied per second of copying."""
        return self.bytes_copied / self.seconds if self.seconds else 0.0


class StorageMigrationItem(models.Model):
    """How far one backup got in a storage migration."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SWITCHED = "switched", "Copied, verified, catalog switched"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(
        StorageMigration, on_delete=models.CASCADE, related_name="items"
    )
    backup_id = models.CharField(max_length=64)
    source = models.CharField(max_length=32, help_text="Storage alias copied from.")
    object_key = models.CharField(max_length=255)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING
    )
    bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "backup_id"], name="migration_item_once_per_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.backup_id}: {self.state}"
