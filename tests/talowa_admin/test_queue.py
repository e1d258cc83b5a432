"""The queue helpers: how many tasks wait, without disturbing the request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ

from talowa_admin.queue import enqueue, queued_count


@pytest.mark.django_db
def test_the_count_is_the_brokers_waiting_tasks():
    assert queued_count() == 0
    enqueue("math.floor", 1.5, name="one", group="test")
    enqueue("math.floor", 2.5, name="two", group="test")
    OrmQ.objects.create(  # taken by a worker: locked until later
        key=get_broker().list_key, payload="x", lock=timezone.now() + timedelta(1)
    )
    OrmQ.objects.create(key="another-cluster", payload="x", lock=timezone.now())
    assert queued_count() == 2 == get_broker().queue_size()


@pytest.mark.postgres  # SQLite's in-memory test database ignores closing
@pytest.mark.django_db(transaction=True)
def test_counting_keeps_the_requests_database_connection(monkeypatch):
    # django-q2's ORM broker closes "old" connections when it is built and
    # asked. With a pool (production) a connection is old at once, so in a
    # request that handed it back and the next query borrowed one again.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # the pool's
    connection.close()
    connection.ensure_connection()
    before = connection.connection
    assert queued_count() == 0
    assert connection.connection is before
