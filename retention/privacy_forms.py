"""Forms of the end users' privacy page (``/me/privacy/``).

The limits come from the retention services: each field's allowed range is
the type's legal bounds (or the system's limits), and the services' own
validation decides, so the page refuses exactly what the service refuses,
with its message naming the field and the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from retention.exceptions import InvalidRetentionPolicy
from retention.services import validate_periods
from retention.services.policies import allowed_range
from retention.types import RETENTION_TYPE_LABELS, RETENTION_TYPES


@dataclass(frozen=True)
class ErasureChoice:
    """One "delete my … now" choice: its words and the retention types it erases."""

    slug: str
    label: str
    what: str
    retention_types: tuple[str, ...]
    count_key: str  # its count in messaging.selectors.user_data_counts


ERASURE_CHOICES: dict[str, ErasureChoice] = {
    choice.slug: choice
    for choice in (
        ErasureChoice(
            "call-history",
            "call history",
            "every call you made or received, missed calls included",
            ("call_history", "missed_calls"),
            "call_history",
        ),
        ErasureChoice(
            "media",
            "media files",
            "every file you shared: photos, voice notes, documents",
            ("media_files",),
            "media_files",
        ),
        ErasureChoice(
            "messages",
            "messages",
            "every message you sent: direct, group, anonymous and voice messages",
            (
                "regular_messages",
                "group_messages",
                "anonymous_messages",
                "system_messages",
                "voice_messages",
            ),
            "messages",
        ),
    )
}


class PreferencesForm(forms.Form):
    """One number of days per retention type; empty means "no preference"."""

    def __init__(self, *args: Any, effective: dict[str, dict], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.periods: dict[str, int | None] = {}
        for rtype in RETENTION_TYPES:
            policy = effective[rtype]
            low, high = allowed_range(
                rtype, {rtype: (policy["legal_min"], policy["legal_max"])}
            )
            self.fields[rtype] = forms.CharField(
                label=RETENTION_TYPE_LABELS[rtype],
                required=False,
                max_length=12,
                initial=policy["user_days"],
                help_text=f"{low} to {high} days; empty: no preference of yours",
                widget=forms.NumberInput(attrs={"min": low, "max": high, "step": 1}),
                error_messages={
                    "max_length": f"{rtype} ({RETENTION_TYPE_LABELS[rtype]}): give "
                    f"a whole number of days from {low} to {high}."
                },
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        given = {
            rtype: (cleaned.get(rtype) or "").strip() or None
            for rtype in RETENTION_TYPES
        }
        try:
            self.periods = validate_periods(given, entity_type="user")
        except InvalidRetentionPolicy as exc:
            self.add_policy_errors(exc)
        return cleaned

    def add_policy_errors(self, exc: InvalidRetentionPolicy) -> None:
        """Put the service's refusals on their fields (the rest on the form)."""
        for name, problems in exc.message_dict.items():
            for problem in problems:
                self.add_error(name if name in self.fields else None, problem)
