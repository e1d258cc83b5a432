from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class TalowaAdminSiteConfig(AdminConfig):
    """Replace Django's default admin site with TALOWA's."""

    default_site = "talowa_admin.admin_site.TalowaAdminSite"


class TalowaAdminConfig(AppConfig):
    """Audit trail, roles, system settings and the integration facade."""

    name = "talowa_admin"
    verbose_name = "TALOWA Admin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from talowa_admin import checks, roles  # noqa: F401 (registers checks)

        # Later migrations add permissions; keep the role groups complete.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)
