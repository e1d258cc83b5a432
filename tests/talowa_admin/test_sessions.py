"""Sessions: Django's database sessions, read with one plain query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from talowa_admin.sessions import SessionStore

pytestmark = pytest.mark.django_db


def stored(data: dict, *, expires_in: timedelta) -> str:
    store = SessionStore()
    store.update(data)
    store.create()
    Session.objects.filter(pk=store.session_key).update(
        expire_date=timezone.now() + expires_in
    )
    return store.session_key


def test_the_site_uses_this_store():
    assert settings.SESSION_ENGINE == "talowa_admin.sessions"


def test_a_session_is_read_in_one_query_of_its_data_alone():
    key = stored({"colour": "green"}, expires_in=timedelta(minutes=5))
    with CaptureQueriesContext(connection) as queries:
        assert SessionStore(key).load() == {"colour": "green"}
    (query,) = queries
    assert query["sql"].startswith('SELECT "session_data" FROM "django_session"')


@pytest.mark.parametrize("expires_in", [timedelta(seconds=-2), timedelta(days=-400)])
def test_an_expired_or_missing_session_is_empty_and_gets_a_new_key(expires_in):
    key = stored({"colour": "green"}, expires_in=expires_in)
    for session_key in (key, "x" * 32):
        store = SessionStore(session_key)
        assert store.load() == {}
        assert store.session_key is None


def test_a_session_expiring_in_a_moment_is_still_read():
    key = stored({"colour": "green"}, expires_in=timedelta(seconds=2))
    assert SessionStore(key).load() == {"colour": "green"}


def test_logging_out_ends_the_session_for_every_client(client, make_user):
    user = make_user()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/me/").status_code == 200
    client.post("/accounts/logout/")
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie  # a copy kept elsewhere
    response = client.get("/me/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
