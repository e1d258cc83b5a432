"""The messaging data that TALOWA Admin protects (the source of truth).

Every row carries ``created_at`` and an indexed ``updated_at`` so that an
incremental backup can find what changed; accounts (Django's ``auth.User``)
get their change stamps in ``AccountChange``. Database triggers keep them
(``messaging.triggers``): ``updated_at`` and the account stamps come from the
database's clock on every insert and update, and every delete leaves a
``Tombstone``, whichever path wrote: the ORM, cascades, ``QuerySet.update()``,
bulk and raw SQL. The app knows nothing of the apps that back it up.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q


def media_storage():
    """Return the storage that holds media bytes (``STORAGES["media"]``)."""
    return storages["media"]


class TimeStamped(models.Model):
    """Creation time and an indexed last-change time.

    The database sets ``updated_at`` on every insert and update (a trigger),
    whatever value the instance holds; read it back with ``refresh_from_db``.
    """

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(db_index=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        from django.utils import timezone

        if self.created_at is None:
            self.created_at = timezone.now()
        if self.updated_at is None:  # NOT NULL; the trigger writes the real one
            self.updated_at = self.created_at
        super().save(*args, **kwargs)


class Conversation(TimeStamped):
    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct"
        GROUP = "group", "Group"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["direct", "group"]),
                name="conversation_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} conversation {self.pk}"


class Participant(TimeStamped):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    # Both keys are the leading column of an index below (participant_unique
    # and the user index); an index of their own would only slow down writes.
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="participants",
        db_index=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "user"], name="participant_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "conversation"])]

    def __str__(self) -> str:
        return f"user {self.user_id} in conversation {self.conversation_id}"


class Message(TimeStamped):
    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular"
        GROUP = "group", "Group"
        ANONYMOUS = "anonymous", "Anonymous"
        SYSTEM = "system", "System"
        VOICE = "voice", "Voice"

    # Both keys lead an index with created_at (Meta.indexes), which serves
    # lookups by the key alone as well.
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    # System messages have no sender; anonymous ones keep theirs for
    # moderation and retention but never show it to other members.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    body = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    is_edited = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=["regular", "group", "anonymous", "system", "voice"]
                ),
                name="message_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="system") | Q(sender__isnull=False),
                name="message_sender_unless_system",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["sender", "created_at"]),
            models.Index(fields=["kind", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} message {self.pk}"


class CallRecord(TimeStamped):
    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        MISSED = "missed", "Missed"
        REJECTED = "rejected", "Rejected"

    class Media(models.TextChoices):
        VOICE = "voice", "Voice"
        VIDEO = "video", "Video"

    # Both lead an index with started_at (Meta.indexes).
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    callee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    media = models.CharField(max_length=10, choices=Media.choices, default=Media.VOICE)
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["completed", "missed", "rejected"]),
                name="call_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="completed") | Q(duration_seconds=0),
                name="call_duration_only_when_completed",
            ),
            models.CheckConstraint(
                condition=~Q(caller=models.F("callee")), name="call_not_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["caller", "started_at"]),
            models.Index(fields=["callee", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} call {self.pk}"


class MediaFile(TimeStamped):
    """A file's metadata; its bytes live in the ``media`` storage by sha256."""

    # Leads the index with created_at (Meta.indexes).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="media_files",
    )
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(storage=media_storage, max_length=200)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="media_sha256_hex"
            ),
        ]
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return self.name


class AccountChange(models.Model):
    """When an account (``auth.User``, which has no change column) last changed.

    Written by a trigger on every insert and update of ``auth_user``, so
    incremental backups carry only the accounts that changed. No foreign key:
    the stamp of a deleted account is harmless, and its tombstone is what
    incrementals carry.
    """

    user_id = models.BigIntegerField(primary_key=True)
    updated_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"account {self.user_id} changed"


class Tombstone(models.Model):
    """A deleted row, written by a trigger, so incrementals can carry the delete."""

    model = models.CharField(max_length=64)
    object_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True, blank=True)
    deleted_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return f"{self.model} {self.object_id} deleted"
