"""The system settings form: quotas in MiB or GiB, one day field per retention type.

Nobody types bytes or JSON: the quota is a number and a unit (stored in
bytes), and each retention type has its own whole-number field (stored as
the ``default_retention_periods`` mapping).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from talowa_admin.humanize import UNITS, split_size
from talowa_admin.models import (
    DEFAULT_RETENTION_PERIODS,
    MAX_RETENTION_DAYS,
    SystemSettings,
)

RETENTION_PREFIX = "retention_"
MIN_QUOTA = UNITS["MiB"]
MAX_QUOTA = 1024 * UNITS["GiB"]
SETTING_FIELDS = (
    "default_backup_interval",
    "enable_automatic_cleanup",
    "max_backups_per_user",
    "max_storage_per_user",
)


def retention_label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


class SizeWidget(forms.MultiWidget):
    """A number box and a MiB/GiB menu side by side."""

    def __init__(self, attrs=None):
        number = forms.NumberInput(attrs={"step": "any", "min": "0", "size": 8})
        unit = forms.Select(choices=[(unit, unit) for unit in UNITS])
        super().__init__([number, unit], attrs)

    def decompress(self, value):
        if value in (None, ""):
            return [None, "MiB"]
        return list(split_size(int(value)))


class SizeField(forms.MultiValueField):
    """A size given as a positive number of MiB or GiB; cleans to bytes."""

    widget = SizeWidget

    def __init__(self, *, minimum: int, maximum: int, **kwargs):
        self.minimum, self.maximum = minimum, maximum
        fields = (
            forms.DecimalField(
                max_digits=12,
                decimal_places=3,
                error_messages={"invalid": "Enter the size as a number."},
            ),
            forms.ChoiceField(choices=[(unit, unit) for unit in UNITS]),
        )
        super().__init__(fields, require_all_fields=True, **kwargs)

    def compress(self, data_list) -> int | None:
        if not data_list:
            return None
        number, unit = data_list
        if number is None or number <= 0:
            raise ValidationError("The quota must be more than zero.", code="min")
        size = int(Decimal(number) * UNITS[unit])
        if not self.minimum <= size <= self.maximum:
            raise ValidationError(
                "The quota must be from 1 MiB to 1024 GiB.", code="range"
            )
        return size

    def has_changed(self, initial, data) -> bool:
        try:
            return self.clean(data) != initial
        except ValidationError:
            return True


class _SettingsForm(forms.ModelForm):
    max_storage_per_user = SizeField(
        minimum=MIN_QUOTA,
        maximum=MAX_QUOTA,
        label="Max storage per user",
        help_text="Backups kept per user, in MiB or GiB (1 MiB to 1024 GiB).",
    )

    class Meta:
        model = SystemSettings
        fields = SETTING_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        periods = {
            **DEFAULT_RETENTION_PERIODS,
            **(self.instance.default_retention_periods or {}),
        }
        for kind in DEFAULT_RETENTION_PERIODS:
            self.initial.setdefault(RETENTION_PREFIX + kind, periods[kind])

    def retention_periods(self) -> dict[str, int]:
        """Return the cleaned day counts as the settings' mapping."""
        return {
            kind: self.cleaned_data[RETENTION_PREFIX + kind]
            for kind in DEFAULT_RETENTION_PERIODS
        }

    def settings_values(self) -> dict[str, Any]:
        """Return every setting as ``configure_system_settings`` takes it."""
        return {
            **{name: self.cleaned_data[name] for name in SETTING_FIELDS},
            "default_retention_periods": self.retention_periods(),
        }


def retention_field(kind: str) -> forms.IntegerField:
    """Return the whole-number day field of one retention type."""
    label = retention_label(kind).lower()
    return forms.IntegerField(
        label=f"{retention_label(kind)} (days)",
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        error_messages={
            "invalid": f"Enter a whole number of days for {label}.",
            "required": f"Give the days to keep {label}.",
            "min_value": f"Keep {label} at least 1 day.",
            "max_value": f"Keep {label} at most {MAX_RETENTION_DAYS} days.",
        },
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_RETENTION_DAYS}),
    )


RETENTION_FIELDS = tuple(RETENTION_PREFIX + kind for kind in DEFAULT_RETENTION_PERIODS)
# Declared on the class (not added per instance) so that the admin, which
# builds its form from the field names of its fieldsets, knows them.
SystemSettingsForm = type(
    "SystemSettingsForm",
    (_SettingsForm,),
    {
        "__module__": __name__,
        "__doc__": "System settings with quotas in units and days per type.",
        **{
            RETENTION_PREFIX + kind: retention_field(kind)
            for kind in DEFAULT_RETENTION_PERIODS
        },
    },
)
