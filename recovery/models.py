"""Disaster-recovery plans and their runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RecoveryPlan(models.Model):
    """A named, ordered list of recovery steps."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    steps = models.JSONField(default=list)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [("run_recovery", "Can run disaster-recovery plans")]

    def __str__(self) -> str:
        return self.name


class RecoveryRun(models.Model):
    """One execution of a plan (or a plain restore), step by step."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    plan = models.ForeignKey(
        RecoveryPlan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    backup_id = models.CharField(max_length=64)
    pre_restore_backup_id = models.CharField(max_length=64, blank=True)
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    steps = models.JSONField(default=list, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the restore step's data change committed: written in that very
    # transaction, so a run whose worker died afterwards still says so.
    applied_at = models.DateTimeField(null=True, blank=True)
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
        return f"Recovery run {self.pk} of {self.backup_id}"


class RestoreDrill(models.Model):
    """One restore drill: a chain restored into a scratch copy and compared.

    ``rto_seconds`` is the time the restore took (verifying the chain and
    loading it), the recovery time actually measured; ``tables`` holds, per
    table, the rows and content checksum the archives call for and those the
    scratch copy held.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    backup_id = models.CharField(max_length=64, blank=True)
    chain = models.JSONField(default=list, blank=True)
    engine = models.CharField(max_length=16)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    rto_seconds = models.FloatField(null=True, blank=True)
    verify_seconds = models.FloatField(null=True, blank=True)
    load_seconds = models.FloatField(null=True, blank=True)
    tables = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who runs it (talowa_admin.liveness): a drill whose worker died is failed.
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
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Restore drill {self.pk} of {self.backup_id or '?'}: {self.status}"

    def as_json(self) -> dict:
        return {
            "id": self.pk,
            "backup_id": self.backup_id,
            "chain": self.chain,
            "engine": self.engine,
            "status": self.status,
            "rto_seconds": self.rto_seconds,
            "verify_seconds": self.verify_seconds,
            "load_seconds": self.load_seconds,
            "tables": self.tables,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class HealthSnapshot(models.Model):
    """One component's state in one health check (the check's history).

    ``alert`` says which alert this snapshot sent: ``problem`` (the component
    became degraded or unhealthy), ``recovery`` (it became healthy again) or
    nothing.
    """

    class Status(models.TextChoices):
        HEALTHY = "healthy", "Healthy"
        DEGRADED = "degraded", "Degraded"
        UNHEALTHY = "unhealthy", "Unhealthy"

    class Alert(models.TextChoices):
        NONE = "", "None"
        PROBLEM = "problem", "Problem"
        RECOVERY = "recovery", "Recovery"

    check_id = models.UUIDField(db_index=True)
    component = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices)
    value = models.FloatField(null=True, blank=True)
    threshold = models.CharField(max_length=100, blank=True)
    detail = models.TextField(blank=True)
    recommendation = models.TextField(blank=True)
    seconds = models.FloatField(default=0)
    alert = models.CharField(
        max_length=8, choices=Alert.choices, default=Alert.NONE, blank=True
    )
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-checked_at", "component"]
        indexes = [models.Index(fields=["component", "checked_at"])]

    def __str__(self) -> str:
        return f"{self.component}: {self.status} at {self.checked_at:%Y-%m-%d %H:%M}"


class SidecarCheck(models.Model):
    """The health check's last full read of a backup's two sidecar copies.

    Kept only when both copies were read whole and parsed: while the listing
    shows both copies with the ``fingerprint`` (size and tag of each) they
    had then, they are not read again until ``checked_at`` is old.
    """

    backup = models.OneToOneField(
        "backups.Backup", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    fingerprint = models.CharField(max_length=300)
    key_ids = models.CharField(max_length=200)  # of both copies, comma-separated
    checked_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"sidecars of {self.backup_id} read at {self.checked_at:%Y-%m-%d %H:%M}"


class MaintenanceRun(models.Model):
    """One system maintenance (or its dry run) and each step's result."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    steps = models.JSONField(default=dict, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Why the run as a whole failed (its worker died); a step's own failure
    # is in ``steps``.
    error = models.TextField(blank=True)
    # Who runs it (talowa_admin.liveness): a run whose worker died is failed.
    worker = models.CharField(max_length=200, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Maintenance run {self.pk}" + (" (dry run)" if self.dry_run else "")
