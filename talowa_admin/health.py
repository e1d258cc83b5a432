"""Health endpoints for load balancers and process supervisors.

- ``/healthz`` (liveness): the process answers. No database, no session, no
  template: it must stay cheap and must not fail because something else did,
  or a supervisor restarts healthy workers during a database outage.
- ``/readyz`` (readiness): the default database answers a query. A load
  balancer stops sending traffic to an instance that is not ready.

Both answer before every other middleware, so a probe works the way load
balancers send it: over plain HTTP from inside the network (no HTTPS
redirect) and with the instance's address as ``Host`` (not in
``ALLOWED_HOSTS``). They need no login and say nothing but ``ok`` or
``unavailable``: no versions, hosts or error text for whoever can reach them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import psycopg
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
# Seconds /readyz waits for a pooled connection: a probe must answer before
# the load balancer's own timeout, not after the pool's (settings: 10 s).
READINESS_POOL_WAIT = 2.0


def database_ready() -> bool:
    """Return whether the default database answers ``SELECT 1``.

    With a connection pool (production on PostgreSQL) the probe borrows from
    that pool, the one requests use, but waits at most ``READINESS_POOL_WAIT``.
    Django opens its pool at a request's first query; a probe can come first
    (a worker just started), so it opens the pool itself.
    """
    connection = connections["default"]
    try:
        pool = getattr(connection, "pool", None)  # None unless OPTIONS["pool"]
        if pool is not None:
            pool.open()  # does nothing when already open
            raw = pool.getconn(timeout=READINESS_POOL_WAIT)
            try:
                raw.execute("SELECT 1").fetchone()
            finally:
                pool.putconn(raw)
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except (DatabaseError, psycopg.Error) as exc:
        # The class only: a driver's message may name hosts or users.
        logger.warning(
            "readiness: the database is unavailable (%s)", type(exc).__name__
        )
        return False
    return True


def _answer(ok: bool, request: HttpRequest) -> HttpResponse:
    response = JsonResponse(
        {"status": "ok" if ok else "unavailable"}, status=200 if ok else 503
    )
    response["Cache-Control"] = "no-store"
    if request.method == "HEAD":
        response.content = b""
    return response


class HealthCheckMiddleware:
    """Answer ``GET``/``HEAD`` on the health paths; pass everything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            path = request.path_info.rstrip("/")
            if path == LIVENESS_PATH:
                return _answer(True, request)
            if path == READINESS_PATH:
                return _answer(database_ready(), request)
        return self.get_response(request)
