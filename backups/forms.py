"""Forms of the end-user export pages."""

from __future__ import annotations

from django import forms

from backups.exports import FORMAT_LABELS
from backups.exports.html_format import LABELS
from backups.models import BACKUP_DATA_TYPES


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
    data_types = forms.MultipleChoiceField(
        label="Data",
        choices=[(name, LABELS[name]) for name in BACKUP_DATA_TYPES],
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
