"""The admin site builds its app list only for pages that show it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.functional import empty

from talowa_admin.roles import BACKUP_VIEWER

pytestmark = pytest.mark.django_db


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
