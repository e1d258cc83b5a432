"""Admin forms: one number field per retention type, a preview before saving."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from retention.exceptions import InvalidRetentionPolicy
from retention.models import RetentionPolicy
from retention.services import policies
from retention.services.erasure import preview_policy_change
from retention.types import MAX_DAYS, RETENTION_TYPE_LABELS, RETENTION_TYPES


def days_field_name(rtype: str) -> str:
    return f"days_{rtype}"


def add_days_fields(form: forms.Form, *, required: bool, initial: dict) -> None:
    """Add one whole-number field per retention type, with its legal range."""
    bounds = policies.legal_bounds()
    for rtype in RETENTION_TYPES:
        low, high = policies.allowed_range(rtype, bounds)
        form.fields[days_field_name(rtype)] = forms.IntegerField(
            label=f"{RETENTION_TYPE_LABELS[rtype]} (days)",
            required=required,
            min_value=1,
            max_value=MAX_DAYS,
            initial=initial.get(rtype),
            help_text=f"Allowed: {low} to {high} days."
            + ("" if required else " Empty: no preference."),
        )


def periods_from(cleaned: dict) -> dict[str, int | None]:
    return {rtype: cleaned.get(days_field_name(rtype)) for rtype in RETENTION_TYPES}


def apply_policy_errors(form: forms.Form, error: InvalidRetentionPolicy) -> None:
    """Put each refused type's message on its own field."""
    for key, messages in error.message_dict.items():
        name = days_field_name(key) if key in RETENTION_TYPES else None
        for message in messages:
            form.add_error(name if name in form.fields else None, message)


class RetentionPolicyForm(forms.ModelForm):
    """A user's or a conversation's policy; saved only after its preview."""

    entity_type = forms.ChoiceField(
        choices=[("user", "User"), ("conversation", "Conversation")]
    )
    confirm_preview = forms.BooleanField(
        required=False,
        label="I have seen the preview: save",
        help_text="Saving first shows how many rows the change would delete now.",
    )

    class Meta:
        model = RetentionPolicy
        fields = ("entity_type", "user", "conversation", "auto_cleanup")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.retention_periods if self.instance.pk else {}
        if self.instance.pk:  # the policy's target is fixed once saved
            for name in ("entity_type", "user", "conversation"):
                self.fields.pop(name, None)
        add_days_fields(self, required=False, initial=stored or {})
        self.preview: dict[str, int] | None = None

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.instance.pk:
            entity_type = self.instance.entity_type
            entity = getattr(self.instance, entity_type)
        else:
            entity_type = cleaned.get("entity_type")
            entity = cleaned.get(entity_type)
            other = "conversation" if entity_type == "user" else "user"
            if entity is None:
                raise ValidationError({entity_type: f"Choose the {entity_type}."})
            if cleaned.get(other) is not None:
                raise ValidationError(
                    {other: f"A {entity_type} policy has no {other}."}
                )
        periods = periods_from(cleaned)
        try:
            self.preview = preview_policy_change(
                entity_id=entity.pk, entity_type=entity_type, retention_periods=periods
            )
        except InvalidRetentionPolicy as exc:
            apply_policy_errors(self, exc)
            return cleaned
        cleaned["retention_periods"] = periods
        if not cleaned.get("confirm_preview"):
            raise ValidationError(preview_message(self.preview))
        return cleaned


def preview_message(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return (
            "Preview: this change would delete no rows now. Tick "
            "'I have seen the preview' and save again."
        )
    parts = ", ".join(
        f"{n} {RETENTION_TYPE_LABELS[rtype].lower()}"
        for rtype, n in counts.items()
        if n
    )
    return (
        f"Preview: this change would delete {total} row(s) now ({parts}), moved to "
        "the archive at the next cleanup. Tick 'I have seen the preview' and save "
        "again."
    )
