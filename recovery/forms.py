"""The options of a restore from the admin: what ``restore_backup`` offers.

A system backup restores the whole system or one user's data (``--user``);
any backup restores all its data types or some (``--types``). The form turns
what the admin chose into canonical options, so that a dry run and the
restore it allows can be compared exactly.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model

from backups.models import Backup
from recovery.exceptions import RecoveryError
from recovery.services.restoring import resolve_target


class RestoreOptionsForm(forms.Form):
    data_types = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Data types",
        error_messages={"required": "Choose at least one data type to restore."},
    )

    def __init__(self, *args: Any, backup: Backup, admin_site, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.backup = backup
        if not backup.is_user_scope:  # a user backup restores its owner, always
            self.fields["user"] = forms.ModelChoiceField(
                queryset=get_user_model().objects.order_by("username"),
                required=False,
                label="Only this user's data",
                help_text="Leave empty to restore the whole system.",
                # Search as you type (the Users admin's search), not one
                # option per account: a platform has far too many for that.
                widget=AutocompleteSelect(Backup._meta.get_field("owner"), admin_site),
            )
        field = self.fields["data_types"]
        field.choices = [(name, name) for name in backup.data_types]
        field.initial = list(backup.data_types)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            resolve_target(
                self.backup.id,
                user=cleaned.get("user"),
                data_types=cleaned.get("data_types"),
            )
        except RecoveryError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned

    def options(self) -> dict[str, Any]:
        """Return the chosen options: ``user`` (an id) and ``data_types``.

        None stands for "the whole system" and "every data type of the
        backup", as in ``restore_from_backup``.
        """
        user = self.cleaned_data.get("user")
        chosen = set(self.cleaned_data["data_types"])
        types = [name for name in self.backup.data_types if name in chosen]
        return {
            "user": user.pk if user else None,
            "data_types": None if types == list(self.backup.data_types) else types,
        }
