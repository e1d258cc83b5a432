"""Error pages in the admin's look, and a refused request logged as one line."""

from __future__ import annotations

import io
import logging

import pytest
from django.test import Client
from django.urls import path, reverse

from talowa_admin.roles import BACKUP_VIEWER
from talowa_admin.urls import urlpatterns as site_urlpatterns

pytestmark = pytest.mark.django_db


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [*site_urlpatterns, path("broken/", broken_view)]


def assert_styled(response, status: int) -> str:
    content = response.content.decode()
    assert response.status_code == status
    assert f'data-status="{status}"' in content
    assert "talowa/admin.css" in content and "admin/css/base.css" in content
    assert "talowa/favicon.svg" in content
    return content


def test_forbidden_page_is_styled(client, role_user):
    client.force_login(role_user(BACKUP_VIEWER))
    response = client.post(reverse("admin:backups_backup_back_up_now"))
    content = assert_styled(response, 403)
    assert "You are not allowed to do this" in content


def test_not_found_page_is_styled(client):
    content = assert_styled(client.get("/no-such-page/"), 404)
    assert "There is nothing here" in content


@pytest.mark.urls(__name__)
def test_server_error_page_is_styled():
    response = Client(raise_request_exception=False).get("/broken/")
    content = assert_styled(response, 500)
    assert "a bug" not in content


def test_favicon_is_served_from_static(client, settings):
    from django.contrib.staticfiles import finders

    assert finders.find("talowa/favicon.svg")


@pytest.fixture
def console():
    """What the configured console handlers print, from every logger on the path."""
    stream = io.StringIO()
    handlers = {
        handler
        for name in ("", "django", "django.request")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
        and not type(handler).__module__.startswith("_pytest")
    }
    assert handlers, "no console handler is configured"
    previous = {handler: handler.setStream(stream) for handler in handlers}
    yield stream
    for handler, old in previous.items():
        handler.setStream(old)


@pytest.mark.parametrize("debug", [False, True])
def test_a_refused_request_logs_one_line(client, role_user, console, settings, debug):
    settings.DEBUG = debug
    client.force_login(role_user(BACKUP_VIEWER))
    client.post(reverse("admin:backups_backup_back_up_now"))
    printed = console.getvalue()
    lines = [line for line in printed.splitlines() if line.strip()]
    assert len(lines) == 1, printed
    assert "WARNING django.request: Forbidden (Permission denied): " in lines[0]
    assert "Traceback" not in printed
