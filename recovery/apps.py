from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_default_plan(sender, *, apps=None, **kwargs) -> None:
    """Keep the default recovery plan present, also after a database flush."""
    from recovery.services.plans import default_plan

    if apps is not None:
        try:
            apps.get_model("recovery", "RecoveryPlan")
        except LookupError:
            return  # a partial migrate that stopped before the recovery tables
    default_plan()


class RecoveryConfig(AppConfig):
    """Restore, disaster-recovery plans and runs, integrity and health."""

    name = "recovery"
    verbose_name = "Recovery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The migration creates the plan; ``flush`` (tests, operators) removes
        # it and then sends post_migrate, which puts it back.
        post_migrate.connect(ensure_default_plan, sender=self)
