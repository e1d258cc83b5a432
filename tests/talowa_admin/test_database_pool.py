"""Production takes PostgreSQL connections from a pool (docs/deployment.md)."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.talowa_admin.test_configuration import run_django

KEY = "k1:" + "A" * 43 + "="

# Six requests as the WSGI handler frames them (request_started and
# request_finished close or return the connection), each asking PostgreSQL
# which server process answers; then what the settings and the pool say.
REQUESTS = """
import json, sys
sys.argv = ["manage.py", *sys.argv[1:]]
import django
django.setup()
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection
backends = []
for _ in range(6):
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
        else:
            cursor.execute("SELECT 1")
        backends.append(cursor.fetchone()[0])
    request_finished.send(sender=None)
pool = connection.pool if connection.vendor == "postgresql" else None
database = settings.DATABASES["default"]
print(json.dumps({
    "pool": database["OPTIONS"].get("pool"),
    "conn_max_age": database.get("CONN_MAX_AGE", 0),
    "pool_class": pool and type(pool).__module__ + "." + type(pool).__name__,
    "stats": pool and pool.get_stats(),
    "backends": len(set(backends)),
    "held_after_request": connection.connection is not None,
}))
"""


def production(url: str, tmp_path, *argv: str, **env: str) -> dict:
    result = run_django(
        REQUESTS,
        *argv,
        TALOWA_ENV="production",
        TALOWA_DATA_DIR=str(tmp_path),
        SECRET_KEY="s" * 50,
        TALOWA_BACKUP_KEYS=KEY,
        ALLOWED_HOSTS="admin.example.org",
        DATABASE_URL=url,
        **env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def postgres_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_production_requests_borrow_one_pooled_connection(tmp_path):
    seen = production(postgres_url(), tmp_path)
    assert seen["pool_class"] == "psycopg_pool.pool.ConnectionPool"
    assert seen["pool"]["max_size"] == 4 and seen["conn_max_age"] == 0
    # Six requests borrowed from the pool and gave back at their end. The
    # pool opens its one connection and, if the first request comes while
    # that is under way, a second; the requests were answered by one or both
    # of those server processes and by no other (which of the two a borrow
    # gets depends on when the pool's growth thread finishes).
    assert seen["stats"]["requests_num"] == 6
    assert seen["stats"]["connections_num"] <= 2
    assert 1 <= seen["backends"] <= seen["stats"]["connections_num"]
    assert seen["held_after_request"] is False


@pytest.mark.postgres
@pytest.mark.django_db
def test_pool_size_is_configurable_and_zero_keeps_persistent_connections(tmp_path):
    sized = production(postgres_url(), tmp_path, TALOWA_DB_POOL_SIZE="9")
    assert sized["pool"]["max_size"] == 9
    plain = production(postgres_url(), tmp_path, TALOWA_DB_POOL_SIZE="0")
    assert plain["pool"] is None and plain["pool_class"] is None
    assert plain["conn_max_age"] == 60 and plain["backends"] == 1
    assert plain["held_after_request"] is True


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_worker_cluster_keeps_persistent_connections(tmp_path):
    # qcluster forks its workers after using the database: no pool there.
    seen = production(postgres_url(), tmp_path, "qcluster")
    assert seen["pool"] is None and seen["conn_max_age"] == 60


def test_sqlite_in_production_has_no_pool(tmp_path):
    seen = production(f"sqlite:///{tmp_path / 'talowa.sqlite3'}", tmp_path)
    assert seen["pool"] is None and seen["conn_max_age"] == 0


def test_a_bad_pool_size_is_a_system_check_error(tmp_path):
    result = run_django(
        "import django; django.setup(); from django.core.management import "
        "call_command; call_command('check')",
        TALOWA_DATA_DIR=str(tmp_path),
        TALOWA_DB_POOL_SIZE="lots",
    )
    assert result.returncode != 0
    assert "talowa.E014" in result.stderr and "TALOWA_DB_POOL_SIZE" in result.stderr
