"""The ground floor of TALOWA Admin: the audit trail and the system settings."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# The brief's data types and their default retention, in days.
DEFAULT_RETENTION_PERIODS: dict[str, int] = {
    "regular_messages": 365,
    "group_messages": 180,
    "anonymous_messages": 90,
    "system_messages": 30,
    "call_history": 180,
    "missed_calls": 30,
    "media_files": 90,
    "voice_messages": 60,
}
MAX_RETENTION_DAYS = 36500
MiB = 1024 * 1024


def default_retention_periods() -> dict[str, int]:
    return dict(DEFAULT_RETENTION_PERIODS)


class AuditEvent(models.Model):
    """One action of consequence; append-only, chained by HMAC (``audit.py``)."""

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The actor's name as it was, so the entry outlives the account.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type} {self.target_id}"


class AuditChainHead(models.Model):
    """The chain's newest hash; updating it serialises writers on every engine."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit chain head at event {self.last_event_id}"


# The brief's own shorthand: ``messages`` is every kind of message.
MESSAGE_RETENTION_TYPES = (
    "regular_messages",
    "group_messages",
    "anonymous_messages",
    "system_messages",
    "voice_messages",
)
RETENTION_ALIASES = {"messages": MESSAGE_RETENTION_TYPES}


def normalize_retention_periods(value: object) -> object:
    """Expand the brief's ``messages`` key into the message retention types.

    A type named in the mapping itself keeps its own period:
    ``{"messages": 200, "system_messages": 30}`` keeps system messages 30 days.
    Anything that is not a mapping is returned as it is, for the validator.
    """
    if not isinstance(value, dict):
        return value
    expanded: dict = {}
    for alias, kinds in RETENTION_ALIASES.items():
        if alias in value:
            expanded.update(dict.fromkeys(kinds, value[alias]))
    expanded.update({k: v for k, v in value.items() if k not in RETENTION_ALIASES})
    return expanded


def validate_retention_periods(value: object) -> None:
    """Reject unknown data types and periods outside 1..36500 days.

    The brief's ``messages`` shorthand is accepted (see
    ``normalize_retention_periods``).
    """
    if not isinstance(value, dict):
        raise ValidationError("Retention periods must be a mapping of type to days.")
    known = (*DEFAULT_RETENTION_PERIODS, *RETENTION_ALIASES)
    unknown = sorted(map(str, set(value) - set(known)))
    if unknown:
        raise ValidationError(
            "Unknown retention type(s): %(unknown)s. Known types: %(known)s.",
            params={"unknown": ", ".join(unknown), "known": ", ".join(known)},
        )
    for kind, days in value.items():
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValidationError(
                "The period for %(kind)s must be a whole number of days.",
                params={"kind": kind},
            )
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValidationError(
                "The period for %(kind)s must be from 1 to %(max)s days, not %(days)s.",
                params={"kind": kind, "max": MAX_RETENTION_DAYS, "days": days},
            )


def validate_backup_interval(value: timedelta) -> None:
    if not timedelta(minutes=15) <= value <= timedelta(days=31):
        raise ValidationError("The backup interval must be from 15 minutes to 31 days.")


class SystemSettings(models.Model):
    """The brief's system-wide configuration: one row, edited in the admin.

    Development defaults follow the brief's example (daily backups, 10 backups
    and 100 MiB per user); its production example is 6-hourly backups, 20
    backups and 500 MiB per user.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    default_backup_interval = models.DurationField(
        default=timedelta(days=1),
        validators=[validate_backup_interval],
        help_text="How often scheduled backups run (for example 1 day, or 6:00:00).",
    )
    default_retention_periods = models.JSONField(
        default=default_retention_periods,
        validators=[validate_retention_periods],
        help_text="Days to keep each data type, for users without a policy.",
    )
    enable_automatic_cleanup = models.BooleanField(
        default=True, help_text="Delete expired data on schedule."
    )
    max_backups_per_user = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    max_storage_per_user = models.PositiveBigIntegerField(
        default=100 * MiB,
        validators=[MinValueValidator(1 * MiB), MaxValueValidator(1024 * 1024 * MiB)],
        help_text="Bytes of backups kept per user (1 MiB to 1 TiB).",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "system settings"
        verbose_name_plural = "system settings"
        permissions = [("view_dashboard", "Can view the backup dashboard")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(id=1), name="system_settings_singleton"
            ),
        ]

    def __str__(self) -> str:
        return "System settings"

    def clean(self) -> None:
        periods = dict(DEFAULT_RETENTION_PERIODS)
        if isinstance(self.default_retention_periods, dict):
            periods.update(normalize_retention_periods(self.default_retention_periods))
            self.default_retention_periods = periods

    @classmethod
    def load(cls) -> SystemSettings:
        """Return the single settings row, creating it with defaults."""
        obj, _ = cls.objects.get_or_create(id=1)
        return obj


class OperationLock(models.Model):
    """A named, exclusive lock held by a running operation (restore, migration).

    Rows exist only while held; the unique name makes taking one atomic on
    every engine. ``talowa_admin.locks`` takes, checks and releases them.
    """

    name = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=200)
    acquired_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    purpose = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"
