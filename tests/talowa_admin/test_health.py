"""Liveness and readiness: cheap, unauthenticated, and saying nothing else.

The in-process tests use Django's client; the last ones start the production
server (gunicorn with ``deploy/gunicorn.conf.py`` and ``TALOWA_ENV=production``)
and probe it the way a load balancer does: plain HTTP, the instance's own
address as ``Host``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def test_liveness_answers_without_touching_the_database(client):
    # No django_db mark: any query here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert "sessionid" not in response.cookies


@pytest.mark.django_db
def test_readiness_queries_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.head("/readyz").content == b""


@pytest.mark.django_db
def test_other_methods_are_not_answered_by_the_probe(client):
    assert client.post("/healthz").status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _production_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TALOWA_", "DATABASE_URL", "SECRET_KEY", "ALLOWED"))
    }
    return base | {
        "TALOWA_ENV": "production",
        "TALOWA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-only-" + "x" * 50,
        "TALOWA_BACKUP_KEYS": "k1:" + "A" * 43 + "=",
        "ALLOWED_HOSTS": "admin.talowa.example",
        "WEB_CONCURRENCY": "1",
    }


def _get(port: int, path: str, host: str) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def _serve(tmp_path: Path, database_url: str):
    """Start the production server; return the process and its port."""
    port = _free_port()
    server = subprocess.Popen(
        [
            str(GUNICORN),
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=_production_env(tmp_path, database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.stderr.read()
        try:
            _get(port, "/healthz", "10.0.0.7")
            return server, port
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start in 60 s"
            time.sleep(0.2)


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_the_production_server_answers_a_load_balancers_probes(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    server, port = _serve(tmp_path, url)
    try:
        # Any Host, plain HTTP: no redirect to HTTPS, no 400.
        assert _get(port, "/healthz", "10.0.0.7")[:2] == (200, b'{"status": "ok"}')
        assert _get(port, "/readyz", "10.0.0.7")[:2] == (200, b'{"status": "ok"}')
        # Everything else is still guarded by ALLOWED_HOSTS and HTTPS.
        assert _get(port, "/accounts/login/", "10.0.0.7")[0] == 400
        status, _, headers = _get(port, "/accounts/login/", "admin.talowa.example")
        assert status == 301 and headers["Location"].startswith("https://")
    finally:
        _stop(server)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_fresh_worker_on_a_pooled_database_is_ready_at_the_first_probe(tmp_path):
    # Production on PostgreSQL borrows from a pool, which Django opens at a
    # request's first query: the probe, first of all, opens it itself.
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    server, port = _serve(tmp_path, url)
    try:
        assert _get(port, "/readyz", "10.0.0.7")[:2] == (200, b'{"status": "ok"}')
    finally:
        _stop(server)


def test_readiness_fails_without_a_database_and_says_nothing_more(tmp_path):
    # Nothing listens on port 1: every connection is refused.
    url = "postgres://talowa:hunter2-secret@127.0.0.1:1/talowa"
    server, port = _serve(tmp_path, url)
    try:
        assert _get(port, "/healthz", "10.0.0.7")[0] == 200
        status, body, _ = _get(port, "/readyz", "10.0.0.7")
    finally:
        _stop(server)
    assert status == 503
    assert json.loads(body) == {"status": "unavailable"}
    assert "hunter2" not in server.stderr.read()
