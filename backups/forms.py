"""Forms of the end-user export pages and of the backup schedules' admin."""

from __future__ import annotations

from django import forms

from backups.exports import DEFAULT_SCOPE, FORMAT_LABELS, SCOPE_LABELS
from backups.exports.html_format import LABELS
from backups.models import BACKUP_DATA_TYPES, BackupSchedule
from backups.services.scheduling import validate_schedule

# The messages and media depend on the scope chosen beside them.
DATA_LABELS = {
    **LABELS,
    "messages": "Messages",
    "media_files": "Media files (with their bytes)",
}


class ExportRequestForm(forms.Form):
    """What a user wants in their export: a format and some data types."""

    format = forms.ChoiceField(
        choices=list(FORMAT_LABELS.items()),
        initial="html",
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": "Unknown format “%(value)s”: choose HTML, JSON, CSV "
            "or NDJSON.",
            "required": "Choose a format.",
        },
    )
    # Left out (an older form, a script), it is "sent", as before the choice.
    scope = forms.ChoiceField(
        label="Messages",
        choices=list(SCOPE_LABELS.items()),
        initial=DEFAULT_SCOPE,
        required=False,
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": "Unknown choice of messages “%(value)s”: choose "
            "“only what I sent” or “whole conversations I take part in”.",
        },
    )
    data_types = forms.MultipleChoiceField(
        label="Data",
        choices=[(name, DATA_LABELS[name]) for name in BACKUP_DATA_TYPES],
        initial=list(BACKUP_DATA_TYPES),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "Unknown data type “%(value)s”: choose among "
            + ", ".join(BACKUP_DATA_TYPES)
            + ".",
            "required": "Choose at least one kind of data to export.",
        },
    )
    include_metadata = forms.BooleanField(
        label="Include metadata (when each item last changed, what each field means)",
        required=False,
        initial=True,
    )

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or DEFAULT_SCOPE


class BackupScheduleForm(forms.ModelForm):
    """A schedule in plain words: when, what, whose; validated by the service."""

    incremental = forms.TypedChoiceField(
        label="Backup",
        choices=[
            (False, "Full: everything selected"),
            (True, "Incremental: what changed since the latest backup"),
        ],
        coerce=lambda value: value in (True, "True"),
        widget=forms.RadioSelect,
        initial=False,
    )
    data_types = forms.MultipleChoiceField(
        label="Data",
        choices=[
            (name, name.replace("_", " ").capitalize()) for name in BACKUP_DATA_TYPES
        ],
        initial=list(BACKUP_DATA_TYPES),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one data type to back up."},
    )

    class Meta:
        model = BackupSchedule
        fields = (
            "name",
            "enabled",
            "kind",
            "every",
            "at_time",
            "weekday",
            "day_of_month",
            "incremental",
            "full_every_days",
            "data_types",
            "owner",
            "note",
        )
        widgets = {
            "at_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "every": forms.NumberInput(attrs={"min": 1, "style": "width: 6em"}),
            "day_of_month": forms.NumberInput(
                attrs={"min": 1, "max": 28, "style": "width: 6em"}
            ),
            "full_every_days": forms.NumberInput(
                attrs={"min": 1, "max": 366, "style": "width: 6em"}
            ),
        }

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            validate_schedule(self.instance)
        except forms.ValidationError as exc:
            self._update_errors(exc)
