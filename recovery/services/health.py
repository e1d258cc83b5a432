"""Health monitoring: check every component, keep the history, alert on change.

Invariants:
- A check never hangs: each component runs in its own daemon thread and is
  reported unhealthy when it has not answered within
  ``TALOWA_HEALTH_CHECK_TIMEOUT`` seconds (the thread is left to finish on
  its own; its result is ignored).
- Every recorded check stores one ``HealthSnapshot`` per component.
- A component that becomes degraded or unhealthy sends one "problem" alert,
  and one "recovery" alert when it is healthy again, each at most once an
  hour per component and state, except that a worse state (degraded, then
  unhealthy) always alerts: by mail to ``ADMINS`` and, when
  ``TALOWA_ALERT_WEBHOOK_URL`` is set, as a JSON POST. A failed alert is
  logged (without the webhook's address, which may carry a token) and never
  fails the check.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, connections
from django.db.models import Q, Subquery
from django.utils import timezone

from recovery.models import HealthSnapshot
from recovery.services.health_checks import (
    CHECKS,
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    Check,
    Component,
)

logger = logging.getLogger(__name__)

ALERT_INTERVAL = timedelta(hours=1)
WEBHOOK_TIMEOUT = 10
_SEVERITY = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


def check_system_health(
    *, record: bool = True, checks: tuple[Check, ...] = CHECKS
) -> dict[str, Any]:
    """Check every component; return ``overall``, ``components``, ``recommendations``.

    With ``record`` (the default) the check is stored and alerts are sent.
    """
    components = run_checks(checks, timeout=settings.TALOWA_HEALTH_CHECK_TIMEOUT)
    overall = max(
        (c.status for c in components), key=_SEVERITY.__getitem__, default=HEALTHY
    )
    result = {
        "overall": overall,
        "checked_at": timezone.now(),
        "components": {c.name: c.as_json() for c in components},
        "recommendations": [c.recommendation for c in components if c.recommendation],
    }
    if record:
        record_check(components)
    return result


def exit_code(overall: str) -> int:
    """Return the exit status of ``check_health``: 0, 1 or 2."""
    return _SEVERITY[overall]


def run_checks(checks: tuple[Check, ...], *, timeout: float) -> list[Component]:
    """Run every check in its own thread; give up on each after ``timeout`` s."""
    runners = [_Runner(check) for check in checks]
    deadline = time.monotonic() + timeout
    for runner in runners:
        runner.thread.start()
    for runner in runners:
        runner.thread.join(max(0.0, deadline - time.monotonic()))
    return [runner.outcome(timeout) for runner in runners]


class _Runner:
    def __init__(self, check: Check) -> None:
        self.check = check
        self.result: Component | None = None
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"health-{check.name}"
        )

    def _run(self) -> None:
        try:
            self.result = self.check.run()
        except Exception as exc:  # reported as the component's state
            self.error = exc
        finally:
            self.seconds = round(time.perf_counter() - self.started, 3)
            connections.close_all()  # this thread's own connections

    def outcome(self, timeout: float) -> Component:
        name = self.check.name
        if self.thread.is_alive():
            return Component(
                name,
                UNHEALTHY,
                None,
                f"answer within {timeout:g} s",
                f"the check did not answer within {timeout:g} s",
                f"{self.check.on_error} (The {name} check hung.)",
                seconds=timeout,
            )
        if self.error is not None:
            return Component(
                name,
                UNHEALTHY,
                None,
                "the check runs",
                f"the check failed: {self.error}",
                self.check.on_error,
                seconds=self.seconds,
            )
        assert self.result is not None
        self.result.seconds = self.seconds
        return self.result


# --- History and alerts ---------------------------------------------------------


def record_check(components: list[Component]) -> list[HealthSnapshot]:
    """Store a snapshot per component and send the alerts that are due."""
    check_id = uuid.uuid4()
    now = timezone.now()
    snapshots = []
    for component in components:
        previous = (
            HealthSnapshot.objects.filter(component=component.name)
            .order_by("-checked_at", "-id")
            .first()
        )
        snapshot = HealthSnapshot(
            check_id=check_id,
            component=component.name,
            status=component.status,
            value=component.value,
            threshold=component.threshold[:100],
            detail=component.detail,
            recommendation=component.recommendation,
            seconds=component.seconds,
            checked_at=now,
        )
        snapshot.alert = _alert_due(component, previous, now)
        snapshot.save()
        snapshots.append(snapshot)
        if snapshot.alert:
            send_alert(component, alert=snapshot.alert, previous=previous)
    return snapshots


def _alert_due(component: Component, previous: HealthSnapshot | None, now) -> str:
    """Return the alert this state change calls for, or "" (none, or too soon).

    Within an hour a problem no worse than one already alerted about stays
    silent, a worse one (degraded, then unhealthy) alerts at once; a recovery
    alerts once.
    """
    before = previous.status if previous else HEALTHY
    if component.status == before:
        return ""
    recent = HealthSnapshot.objects.filter(
        component=component.name, checked_at__gt=now - ALERT_INTERVAL
    )
    if component.status == HEALTHY:
        kind = HealthSnapshot.Alert.RECOVERY
        repeat = recent.filter(alert=kind).exists()
    else:
        kind = HealthSnapshot.Alert.PROBLEM
        as_bad = [s for s, n in _SEVERITY.items() if n >= _SEVERITY[component.status]]
        repeat = recent.filter(alert=kind, status__in=as_bad).exists()
    return "" if repeat else kind


def send_alert(
    component: Component, *, alert: str, previous: HealthSnapshot | None
) -> None:
    """Mail ``ADMINS`` and call the webhook about one component's change."""
    before = previous.status if previous else HEALTHY
    subject = f"{component.name} is {component.status} (was {before})"
    lines = [
        f"Component: {component.name}",
        f"Status: {component.status} (was {before})",
        f"Measured: {component.value} (threshold: {component.threshold})",
        f"Detail: {component.detail}",
    ]
    if component.recommendation:
        lines.append(f"What to do: {component.recommendation}")
    try:
        mail_admins(subject, "\n".join(lines))
    except Exception:
        logger.exception("health alert mail about %s failed", component.name)
    url = settings.TALOWA_ALERT_WEBHOOK_URL
    if url:
        body = {
            "alert": alert,
            "component": component.name,
            "status": component.status,
            "previous_status": before,
            "value": component.value,
            "threshold": component.threshold,
            "detail": component.detail,
            "recommendation": component.recommendation,
            "at": timezone.now().isoformat(),
        }
        _post_webhook(url, body)


def _post_webhook(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(  # noqa: S310 - an operator-set URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:  # noqa: S310
            response.read()
    except Exception as exc:
        logger.warning(
            "health alert webhook about %s failed: %s",
            body["component"],
            type(exc).__name__,
        )


def latest_health() -> dict[str, HealthSnapshot]:
    """Return the newest stored snapshot of each component, by component.

    One query, however long the history: a scalar subquery per component
    picks its newest snapshot's id from the (component, checked_at) index.
    """
    names = tuple(check.name for check in CHECKS)
    sql, params = _latest_health_sql(connection.vendor, names)
    snapshots = {s.component: s for s in HealthSnapshot.objects.raw(sql, params)}
    return {name: snapshots[name] for name in names if name in snapshots}


@functools.cache
def _latest_health_sql(vendor: str, names: tuple[str, ...]) -> tuple[str, tuple]:
    """The SQL of ``latest_health``, built by the ORM once per database kind.

    Building and compiling a query of a dozen subqueries costs more CPU than
    running it; the dashboard asks for it on every refresh.
    """
    newest = Q()
    for name in names:
        newest |= Q(
            pk=Subquery(
                HealthSnapshot.objects.filter(component=name)
                .order_by("-checked_at", "-id")
                .values("pk")[:1]
            )
        )
    return HealthSnapshot.objects.filter(newest).query.sql_with_params()
