"""Retention policies and legal holds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RetentionPolicy(models.Model):
    """Days to keep each retention type, system-wide or for one user."""

    class EntityType(models.TextChoices):
        SYSTEM = "system", "System"
        USER = "user", "User"

    entity_type = models.CharField(max_length=8, choices=EntityType.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
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
                condition=models.Q(entity_type="system", user__isnull=True)
                | models.Q(entity_type="user", user__isnull=False),
                name="retention_policy_entity_matches_user",
            ),
            models.UniqueConstraint(
                fields=["entity_type"],
                condition=models.Q(entity_type="system"),
                name="retention_policy_one_system",
            ),
        ]

    def __str__(self) -> str:
        return "System policy" if self.user_id is None else f"Policy of {self.user}"


class LegalHold(models.Model):
    """While active, nothing of the user's is deleted by retention or expiry."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="legal_holds"
    )
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("manage_legal_hold", "Can place and release legal holds")]

    def __str__(self) -> str:
        return f"Legal hold on {self.user}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None
