"""Admin forms of recovery plans: steps chosen from the known ones, in order.

Nobody types JSON: a plan's steps are a column of menus, one per position,
each offering the steps ``recovery.services.plans`` knows how to run. Choose
"—" to remove a step, fill the next empty menu to add one, change menus to
reorder. Each step appears at most once and a plan must restore.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from backups.models import Backup
from recovery.models import RecoveryPlan
from recovery.services.plans import DEFAULT_STEPS

KNOWN_STEPS: dict[str, dict[str, Any]] = {
    step["action"]: step for step in DEFAULT_STEPS
}
STEP_CHOICES = [("", "—")] + [
    (action, step["title"]) for action, step in KNOWN_STEPS.items()
]
MAX_STEPS = len(KNOWN_STEPS) + 1  # one empty menu to add with


class StepListWidget(forms.MultiWidget):
    template_name = "recovery/steps_widget.html"

    def __init__(self, attrs=None):
        super().__init__(
            [forms.Select(choices=STEP_CHOICES) for _ in range(MAX_STEPS)], attrs
        )

    def decompress(self, value):
        return step_actions(value)


def step_actions(steps) -> list[str]:
    """Return a plan's step actions, padded with blanks to one per menu."""
    actions = [
        step.get("action", "") if isinstance(step, dict) else step
        for step in steps or []
    ]
    return (actions + [""] * MAX_STEPS)[:MAX_STEPS]


class StepListField(forms.MultiValueField):
    """An ordered list of known steps; cleans to the plan's ``steps`` list."""

    widget = StepListWidget

    def __init__(self, **kwargs: Any):
        fields = [
            forms.CharField(required=False, max_length=64) for _ in range(MAX_STEPS)
        ]
        kwargs.setdefault(
            "error_messages", {"required": "A plan needs at least one step."}
        )
        super().__init__(fields, require_all_fields=False, **kwargs)

    def prepare_value(self, value):
        # The model's steps are a list of dicts, which MultiWidget would take
        # as the menus' values without decompressing them.
        return step_actions(value)

    def compress(self, data_list) -> list[dict[str, Any]]:
        actions = [action for action in data_list or [] if action]
        unknown = [action for action in actions if action not in KNOWN_STEPS]
        if unknown:
            raise ValidationError(
                'Unknown step "%(step)s"; choose one of: %(known)s.',
                params={"step": unknown[0], "known": ", ".join(KNOWN_STEPS)},
                code="unknown",
            )
        if not actions:
            raise ValidationError("A plan needs at least one step.", code="empty")
        repeated = sorted({a for a in actions if actions.count(a) > 1})
        if repeated:
            raise ValidationError(
                'The step "%(step)s" appears more than once; keep one.',
                params={"step": KNOWN_STEPS[repeated[0]]["title"]},
                code="repeated",
            )
        if "restore" not in actions:
            raise ValidationError(
                'A recovery plan must restore: add the step "%(step)s".',
                params={"step": KNOWN_STEPS["restore"]["title"]},
                code="no_restore",
            )
        return [dict(KNOWN_STEPS[action]) for action in actions]


class RecoveryPlanForm(forms.ModelForm):
    steps = StepListField(
        help_text="The steps in the order they run. Choose — to remove a step."
    )

    class Meta:
        model = RecoveryPlan
        fields = ("name", "description", "is_default", "steps")


class RunPlanForm(forms.Form):
    """Which backup a plan restores, and whether to keep a copy first."""

    backup = forms.ChoiceField(
        label="Backup to restore",
        error_messages={
            "invalid_choice": "Choose a completed system backup from the list.",
            "required": "Choose the backup to restore.",
        },
    )
    pre_restore_backup = forms.BooleanField(
        required=False,
        initial=True,
        label="Back up the current data first (so the run can be rolled back)",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        backups = Backup.objects.filter(
            status=Backup.Status.COMPLETED, scope=Backup.Scope.SYSTEM
        ).order_by("-created_at")[:50]
        self.fields["backup"].choices = [(b.id, _describe(b)) for b in backups]


def _describe(backup: Backup) -> str:
    kind = backup.get_kind_display().lower()
    return f"{backup.id} ({kind}, {backup.created_at:%Y-%m-%d %H:%M})"
