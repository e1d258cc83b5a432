"""Retention policies, legal bounds and holds, cleanup runs and the archive.

Archived rows point at their batch, users and conversations without a
database constraint (``db_constraint=False``): a cleanup inserts them by the hundred
thousand and need not check each reference again; Django still deletes them
with their user or conversation.

The global default periods live in ``SystemSettings.default_retention_periods``
(edited in the system settings); ``RetentionPolicy`` rows hold the periods a
user or a conversation chose. Archived rows keep their original ids and
columns, so an archive batch can be put back exactly (``services.cleanup``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from retention.types import MAX_DAYS, MIN_DAYS, RETENTION_TYPE_LABELS, RETENTION_TYPES


class RetentionPolicy(models.Model):
    """Days to keep each retention type, for one user or one conversation.

    ``SYSTEM`` is historical: the global default is the system settings' one.
    """

    class EntityType(models.TextChoices):
        SYSTEM = "system", "System"
        USER = "user", "User"
        CONVERSATION = "conversation", "Conversation"

    entity_type = models.CharField(max_length=12, choices=EntityType.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="retention_policy",
    )
    conversation = models.OneToOneField(
        "messaging.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="retention_policy",
    )
    retention_periods = models.JSONField(default=dict)
    auto_cleanup = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    entity_type="system", user__isnull=True, conversation__isnull=True
                )
                | Q(entity_type="user", user__isnull=False, conversation__isnull=True)
                | Q(
                    entity_type="conversation",
                    user__isnull=True,
                    conversation__isnull=False,
                ),
                name="retention_policy_entity_matches_target",
            ),
            models.UniqueConstraint(
                fields=["entity_type"],
                condition=Q(entity_type="system"),
                name="retention_policy_one_system",
            ),
        ]

    def __str__(self) -> str:
        if self.conversation_id is not None:
            return f"Policy of {self.conversation}"
        return "System policy" if self.user_id is None else f"Policy of {self.user}"


class LegalBound(models.Model):
    """The legal minimum and maximum days of one retention type."""

    retention_type = models.CharField(
        max_length=24,
        unique=True,
        choices=[(name, RETENTION_TYPE_LABELS[name]) for name in RETENTION_TYPES],
    )
    min_days = models.PositiveIntegerField(null=True, blank=True)
    max_days = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["retention_type"]

    def __str__(self) -> str:
        return f"Legal bounds of {RETENTION_TYPE_LABELS.get(self.retention_type)}"

    def clean(self) -> None:
        errors = {}
        for name in ("min_days", "max_days"):
            value = getattr(self, name)
            if value is not None and not MIN_DAYS <= value <= MAX_DAYS:
                errors[name] = f"Give {MIN_DAYS} to {MAX_DAYS} days, or leave empty."
        if (
            not errors
            and self.min_days is not None
            and self.max_days is not None
            and self.min_days > self.max_days
        ):
            errors["max_days"] = (
                f"The maximum ({self.max_days} days) is below the minimum "
                f"({self.min_days} days)."
            )
        if errors:
            raise ValidationError(errors)


class LegalHold(models.Model):
    """While active, nothing of the user's or the conversation's is deleted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legal_holds",
    )
    conversation = models.ForeignKey(
        "messaging.Conversation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legal_holds",
    )
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField("since", default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    until = models.DateTimeField(
        null=True, blank=True, help_text="Empty: until released."
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("manage_legal_hold", "Can place and release legal holds")]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, conversation__isnull=True)
                | Q(user__isnull=True, conversation__isnull=False),
                name="legal_hold_on_user_or_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"Legal hold on {self.user or self.conversation}"

    def clean(self) -> None:
        if (self.user_id is None) == (self.conversation_id is None):
            raise ValidationError(
                "A legal hold covers either one user or one conversation: "
                "choose exactly one."
            )
        if self.until is not None and self.until <= self.created_at:
            raise ValidationError(
                {"until": "The end of the hold must come after its start."}
            )

    @property
    def is_active(self) -> bool:
        return self.released_at is None and (
            self.until is None or self.until > timezone.now()
        )

    @staticmethod
    def active_q(now=None) -> Q:
        """Return the condition of holds in force at ``now``."""
        now = now or timezone.now()
        return Q(released_at__isnull=True) & (Q(until__isnull=True) | Q(until__gt=now))


class CleanupRun(models.Model):
    """One cleanup (or its dry run): what it deleted per type and how long."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=20, default="command")
    actor_label = models.CharField(max_length=150, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Cleanup run {self.pk}" + (" (dry run)" if self.dry_run else "")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ArchiveBatch(models.Model):
    """Rows one cleanup or erasure moved out of the live tables."""

    class Reason(models.TextChoices):
        CLEANUP = "cleanup", "Retention cleanup"
        ERASURE = "erasure", "Erasure request"
        RESTORE = "restore", "Retention after a restore"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    run = models.ForeignKey(
        CleanupRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="batches",
    )
    counts = models.JSONField(default=dict, blank=True)
    purge_after = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "archive batches"
        permissions = [("restore_archivebatch", "Can restore an archive batch")]

    def __str__(self) -> str:
        return f"Archive batch {self.pk}"

    @property
    def state(self) -> str:
        if self.restored_at:
            return "restored"
        if self.purged_at:
            return "purged"
        return "archived"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ArchivedMessage(models.Model):
    """A ``messaging.Message`` moved out by retention (same id and columns)."""

    id = models.BigIntegerField(primary_key=True)
    batch = models.ForeignKey(
        ArchiveBatch, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    conversation = models.ForeignKey(
        "messaging.Conversation",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=10)
    body = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    is_edited = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk} (batch {self.batch_id})"


class ArchivedCallRecord(models.Model):
    """A ``messaging.CallRecord`` moved out by retention."""

    id = models.BigIntegerField(primary_key=True)
    batch = models.ForeignKey(
        ArchiveBatch, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    callee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    conversation = models.ForeignKey(
        "messaging.Conversation",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    media = models.CharField(max_length=10)
    status = models.CharField(max_length=10)
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk} (batch {self.batch_id})"


class ArchivedMediaFile(models.Model):
    """A ``messaging.MediaFile`` row moved out by retention; bytes stay until purge.

    ``message_id`` is a plain column: the message may be archived or purged
    on its own schedule.
    """

    id = models.BigIntegerField(primary_key=True)
    batch = models.ForeignKey(
        ArchiveBatch, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    message_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.CharField(max_length=200, db_index=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk} (batch {self.batch_id})"


class ArchivedMediaLink(models.Model):
    """A live media file that pointed at a message archived in ``batch``."""

    batch = models.ForeignKey(
        ArchiveBatch, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    media_id = models.BigIntegerField()
    message_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"media {self.media_id} of message {self.message_id}"
