"""The admin site: loaded where needed, its app list built only where shown."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.functional import empty

from talowa_admin.roles import BACKUP_VIEWER
from tests.talowa_admin.test_configuration import run_django


@pytest.mark.django_db
def test_a_list_page_leaves_the_app_list_unbuilt_and_the_index_shows_it(
    client, role_user
):
    client.force_login(role_user(BACKUP_VIEWER))
    listing = client.get(reverse("admin:backups_backup_changelist"))
    assert listing.status_code == 200
    apps = listing.context["available_apps"]
    assert apps._wrapped is empty  # no template read it: never built
    # Read, it is the viewer's app list, the one the index shows.
    assert "backups" in [app["app_label"] for app in apps]
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    labels = [app["app_label"] for app in index.context["app_list"]]
    assert "backups" in labels
    assert reverse("admin:backups_backup_changelist") in index.content.decode()


START_AND_CHECK = """
import sys

import django

django.setup()
admin_modules = ("talowa_admin.admin", "talowa_admin.dashboard", "backups.admin")
print(sorted(name for name in admin_modules if name in sys.modules))

from django.contrib import admin
from django.core.checks import run_checks

from backups.models import Backup

run_checks(tags=["admin"])
print(Backup in admin.site._registry)
"""


def test_start_up_leaves_the_admin_to_the_urlconf_and_the_admin_check(tmp_path):
    """Commands start without the admin modules; ``check`` still sees them."""
    done = run_django(START_AND_CHECK, TALOWA_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
