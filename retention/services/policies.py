"""Retention policies: validation, precedence and the effective period of a row.

Precedence, for one retention type (docs/retention.md has the table):

1. an active legal hold on the user (any party of a call) or the conversation
   keeps the row: nothing is deleted;
2. otherwise the shortest of the preferences that apply (the user's, every
   party's for a call, the conversation's); without any, the global default
   (system settings);
3. the result is then kept inside the type's legal bounds: raised to the legal
   minimum, lowered to the legal maximum.

A preference is accepted only inside the legal bounds, so step 3 matters only
for policies saved before a bound changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from messaging.models import Conversation
from retention.exceptions import InvalidRetentionPolicy
from retention.models import LegalBound, LegalHold, RetentionPolicy
from retention.types import (
    DEFAULT_PERIODS,
    MAX_DAYS,
    MIN_DAYS,
    RETENTION_TYPE_LABELS,
    RETENTION_TYPES,
)
from talowa_admin.audit import record_audit_event
from talowa_admin.models import SystemSettings

KEEP = None  # a period of None: kept (no automatic deletion)
ENTITY_TYPES = ("user", "conversation", "global")


@dataclass(frozen=True)
class Resolution:
    days: int | None
    source: str
    reason: str


@dataclass
class PolicyTable:
    """Everything precedence needs, read once, so a cleanup resolves rows fast."""

    now: datetime
    global_days: dict[str, int]
    bounds: dict[str, tuple[int | None, int | None]]
    user_prefs: dict[int, dict[str, int | None]] = field(default_factory=dict)
    conversation_prefs: dict[int, dict[str, int | None]] = field(default_factory=dict)
    held_users: set[int] = field(default_factory=set)
    held_conversations: set[int] = field(default_factory=set)

    @property
    def is_uniform(self) -> bool:
        """Tell whether every row of a type has the global period."""
        return not (
            self.user_prefs
            or self.conversation_prefs
            or self.held_users
            or self.held_conversations
        )

    def resolve(
        self, rtype: str, user_ids: tuple[int, ...], conversation_id: int | None
    ) -> Resolution:
        """Return the period of a row of ``rtype`` and why (the precedence above)."""
        if self.held_users.intersection(user_ids) or (
            conversation_id in self.held_conversations
        ):
            return Resolution(KEEP, "legal_hold", "A legal hold keeps this data.")
        prefs = []
        for uid in user_ids:
            if rtype in self.user_prefs.get(uid, {}):
                prefs.append((self.user_prefs[uid][rtype], "user"))
        conv = self.conversation_prefs.get(conversation_id, {})
        if rtype in conv:
            prefs.append((conv[rtype], "conversation"))
        if prefs:
            days, source = min(prefs, key=_sort_key)
            reason = _preference_reason(source, days)
        else:
            days, source = self.global_days[rtype], "global"
            reason = f"The system default keeps it {days} days."
        return self._bounded(rtype, days, source, reason)

    def _bounded(self, rtype: str, days: int | None, source: str, reason: str):
        low, high = self.bounds.get(rtype, (None, None))
        if low is not None and days is not None and days < low:
            return Resolution(
                low, "legal_minimum", f"The law requires keeping it {low} days."
            )
        if high is not None and (days is None or days > high):
            return Resolution(
                high, "legal_maximum", f"The law allows keeping it at most {high} days."
            )
        return Resolution(days, source, reason)

    def bounded_days(self, rtype: str, days: int | None) -> int | None:
        """Return ``days`` (None: keep) kept inside the legal bounds of ``rtype``."""
        return self._bounded(rtype, days, "", "").days

    def shortest_days(self, rtype: str) -> int | None:
        """Return the shortest period any row of ``rtype`` can have (None: none)."""
        candidates = [self.global_days[rtype]]
        for prefs in (*self.user_prefs.values(), *self.conversation_prefs.values()):
            if prefs.get(rtype) is not None:
                candidates.append(prefs[rtype])
        low, high = self.bounds.get(rtype, (None, None))
        days = min(candidates)
        if low is not None:
            days = max(days, low)
        if high is not None:
            days = min(days, high)
        return days

    def cutoff(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


def _sort_key(pref: tuple[int | None, str]) -> int:
    return MAX_DAYS + 1 if pref[0] is None else pref[0]


def _preference_reason(source: str, days: int | None) -> str:
    whose = "Your preference" if source == "user" else "The conversation's policy"
    if days is None:
        return f"{whose} keeps it (automatic cleanup off)."
    return f"{whose} keeps it {days} days."


def load_policy_table(*, now: datetime | None = None) -> PolicyTable:
    """Read the global default, the bounds, every policy and the active holds."""
    now = now or timezone.now()
    table = PolicyTable(
        now=now,
        global_days=global_periods(),
        bounds=legal_bounds(),
    )
    for policy in RetentionPolicy.objects.exclude(entity_type="system"):
        prefs = _preferences(policy)
        if policy.user_id is not None:
            table.user_prefs[policy.user_id] = prefs
        elif policy.conversation_id is not None:
            table.conversation_prefs[policy.conversation_id] = prefs
    for user_id, conversation_id in LegalHold.objects.filter(
        LegalHold.active_q(now)
    ).values_list("user_id", "conversation_id"):
        if user_id is not None:
            table.held_users.add(user_id)
        if conversation_id is not None:
            table.held_conversations.add(conversation_id)
    return table


def _preferences(policy: RetentionPolicy) -> dict[str, int | None]:
    if not policy.auto_cleanup:
        return dict.fromkeys(RETENTION_TYPES, KEEP)
    return {
        rtype: days
        for rtype, days in (policy.retention_periods or {}).items()
        if rtype in RETENTION_TYPES and days is not None
    }


def global_periods() -> dict[str, int]:
    """Return the global default days per type (system settings, then defaults)."""
    stored = SystemSettings.load().default_retention_periods or {}
    return {
        rtype: int(stored.get(rtype, DEFAULT_PERIODS[rtype]))
        for rtype in RETENTION_TYPES
    }


def legal_bounds() -> dict[str, tuple[int | None, int | None]]:
    """Return each type's legal minimum and maximum days (None: no bound)."""
    bounds = dict.fromkeys(RETENTION_TYPES, (None, None))
    for bound in LegalBound.objects.all():
        bounds[bound.retention_type] = (bound.min_days, bound.max_days)
    return bounds


def get_effective_policy(user: Any, conversation: Any = None) -> dict[str, dict]:
    """Return each type's period for ``user`` (in ``conversation``) with its reason."""
    table = load_policy_table()
    user_ids = (user.pk,) if user is not None else ()
    conversation_id = conversation.pk if conversation is not None else None
    stored = {}
    if user is not None:
        policy = RetentionPolicy.objects.filter(user=user).first()
        stored = (policy.retention_periods or {}) if policy else {}
    result = {}
    for rtype in RETENTION_TYPES:
        resolution = table.resolve(rtype, user_ids, conversation_id)
        low, high = table.bounds[rtype]
        result[rtype] = {
            "days": resolution.days,
            "source": resolution.source,
            "reason": resolution.reason,
            "legal_min": low,
            "legal_max": high,
            "held": resolution.source == "legal_hold",
            "user_days": stored.get(rtype),
        }
    return result


def allowed_range(rtype: str, bounds: dict) -> tuple[int, int]:
    low, high = bounds.get(rtype, (None, None))
    return (
        low if low is not None else MIN_DAYS,
        high if high is not None else MAX_DAYS,
    )


def validate_periods(
    retention_periods: Any, *, entity_type: str, bounds: dict | None = None
) -> dict[str, int | None]:
    """Return the periods cleaned, or raise ``InvalidRetentionPolicy`` per field.

    A user's or conversation's policy may leave a type out or set it to None
    (no preference); the global default needs a number for every type given.
    """
    if not isinstance(retention_periods, dict):
        raise InvalidRetentionPolicy(
            {"retention_periods": "Give a mapping of retention type to days."}
        )
    bounds = legal_bounds() if bounds is None else bounds
    errors: dict[str, str] = {}
    clean: dict[str, int | None] = {}
    for rtype, days in retention_periods.items():
        if rtype not in RETENTION_TYPES:
            errors[str(rtype)] = (
                f"{rtype}: unknown retention type; known types are "
                f"{', '.join(RETENTION_TYPES)}."
            )
            continue
        low, high = allowed_range(rtype, bounds)
        label = RETENTION_TYPE_LABELS[rtype]
        if days is None and entity_type != "global":
            clean[rtype] = None
            continue
        if isinstance(days, str) and days.strip().isdigit():
            days = int(days.strip())
        if isinstance(days, bool) or not isinstance(days, int):
            errors[rtype] = (
                f"{rtype} ({label}): give a whole number of days from {low} to {high}."
            )
        elif not low <= days <= high:
            errors[rtype] = (
                f"{rtype} ({label}): {days} days is outside the allowed range, "
                f"{low} to {high} days."
            )
        else:
            clean[rtype] = days
    if errors:
        raise InvalidRetentionPolicy(errors)
    return clean


def resolve_entity(entity_type: str, entity_id: Any) -> Any:
    """Return the user or conversation a policy is for (None for global)."""
    if entity_type not in ENTITY_TYPES:
        raise InvalidRetentionPolicy(
            {"entity_type": f"entity_type must be one of {', '.join(ENTITY_TYPES)}."}
        )
    if entity_type == "global":
        return None
    model = get_user_model() if entity_type == "user" else Conversation
    pk = getattr(entity_id, "pk", entity_id)
    found = model.objects.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise InvalidRetentionPolicy(
            {"entity_id": f"No {entity_type} with id {entity_id!r}."}
        )
    return found


def set_retention_policy(
    *,
    entity_id: Any,
    entity_type: str,
    retention_periods: dict,
    auto_cleanup: bool = True,
    actor: Any = None,
    request: Any = None,
) -> RetentionPolicy | SystemSettings:
    """Save a user's, a conversation's or the global retention periods; audited.

    For ``"global"`` the system settings' default periods are updated and the
    settings row is returned. Types left out keep their current value.
    """
    entity = resolve_entity(entity_type, entity_id)
    periods = validate_periods(retention_periods, entity_type=entity_type)
    if entity_type == "global":
        saved, before = _save_global(periods, auto_cleanup, actor)
    else:
        saved, before = _save_entity(entity_type, entity, periods, auto_cleanup, actor)
    record_audit_event(
        actor=actor,
        action="retention.policy_change",
        target=(entity_type, entity.pk if entity is not None else "global"),
        details={"from": before, "to": periods, "auto_cleanup": auto_cleanup},
        request=request,
    )
    return saved


def _save_global(periods, auto_cleanup, actor):
    with transaction.atomic():
        settings_row = SystemSettings.load()
        settings_row = SystemSettings.objects.select_for_update().get(
            pk=settings_row.pk
        )
        before = dict(settings_row.default_retention_periods or {})
        settings_row.default_retention_periods = {**before, **periods}
        settings_row.enable_automatic_cleanup = auto_cleanup
        if hasattr(actor, "get_username"):
            settings_row.updated_by = actor
        settings_row.save()
    return settings_row, before


def _save_entity(entity_type, entity, periods, auto_cleanup, actor):
    field_name = "user" if entity_type == "user" else "conversation"
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(
            **{field_name: entity}, defaults={"entity_type": entity_type}
        )
        before = dict(policy.retention_periods or {})
        merged = {**before, **periods}
        policy.retention_periods = {k: v for k, v in merged.items() if v is not None}
        policy.auto_cleanup = auto_cleanup
        policy.updated_at = timezone.now()
        policy.updated_by = actor if hasattr(actor, "get_username") else None
        policy.save()
    return policy, before


def table_with_change(
    *, entity_type: str, entity: Any, periods: dict, auto_cleanup: bool = True
) -> PolicyTable:
    """Return the current policy table as it would be with the change saved."""
    table = load_policy_table()
    if entity_type == "global":
        table.global_days.update({k: v for k, v in periods.items() if v is not None})
        return table
    prefs_by_entity = (
        table.user_prefs if entity_type == "user" else table.conversation_prefs
    )
    current = dict(prefs_by_entity.get(entity.pk, {}))
    if not auto_cleanup:
        current = dict.fromkeys(RETENTION_TYPES, KEEP)
    else:
        for rtype, days in periods.items():
            if days is None:
                current.pop(rtype, None)
            else:
                current[rtype] = days
    prefs_by_entity[entity.pk] = current
    return table
