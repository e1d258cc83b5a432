from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.checks import check_admin_app, check_dependencies
from django.core.checks import Tags, register
from django.db.models.signals import post_migrate


class TalowaAdminSiteConfig(SimpleAdminConfig):
    """Django's admin with TALOWA's site, its modules loaded where needed.

    Not at start-up, as Django's ``AdminConfig`` does: the admin modules
    import the facade, every app's services and the dashboard, a third of a
    management command's start, and no command needs them. They are loaded
    by the URLconf (``talowa_admin.urls``, which the web process loads at
    start, ``talowa_admin.wsgi``) and by the admin's system check, which
    looks at their registrations.
    """

    default_site = "talowa_admin.admin_site.TalowaAdminSite"

    def ready(self) -> None:
        register(check_dependencies, Tags.admin)
        register(check_admin_registrations, Tags.admin)


def check_admin_registrations(app_configs, **kwargs) -> list:
    """Run Django's admin checks over every app's admin registrations."""
    from django.contrib import admin  # its modules import models: not before ready

    admin.autodiscover()
    return check_admin_app(app_configs, **kwargs)


class TalowaAdminConfig(AppConfig):
    """Audit trail, roles, system settings and the integration facade."""

    name = "talowa_admin"
    verbose_name = "TALOWA Admin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from talowa_admin import checks, roles  # noqa: F401 (registers checks)

        # Later migrations add permissions; keep the role groups complete.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)
