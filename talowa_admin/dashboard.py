"""The administrators' dashboard: what the admin index shows, from the services.

Every figure comes from a service or selector (the facade's
``get_backup_status`` figures, the backup history, the recovery activity); this
module only arranges them for the page, draws the charts and works out which
buttons a user gets. The templates format figures and compute none.

The query count does not grow with the catalog: every figure is one grouped
query or a bounded list. Everything but the jobs under way is cached, as
figures and as the HTML of its sections, under a key that carries a
fingerprint of the activity (``activity_fingerprint``: one query of indexed
maxima and counts), so a backup, cleanup, drill or maintenance run that
starts or finishes, a verification, a schedule run or a new health check
changes the key and the next request computes afresh, on every process.
The jobs under way are read on every request; those whose worker died are
failed as such there (``talowa_admin.liveness``), not shown running.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django_q.models import Schedule

from backups.models import Backup, BackupSchedule, BackupScheduleRun
from backups.services.catalog import mark_stale_backups
from backups.services.history import daily_outcomes, newest_chain
from backups.services.scheduling.summaries import maintenance_job_summaries
from backups.services.usage import storage_usage
from recovery.models import HealthSnapshot, MaintenanceRun, RestoreDrill
from recovery.services.activity import (
    newest_finished_drill,
    running_drills,
    running_maintenance,
)
from recovery.services.health_checks import DEGRADED, HEALTHY, UNHEALTHY
from retention.models import CleanupRun
from talowa_admin.charts import line_chart, stacked_bars
from talowa_admin.humanize import human_size
from talowa_admin.queue import queued_count
from talowa_admin.services import backup_status
from talowa_admin.templatetags.talowa_dashboard import human_seconds

VIEW_PERMISSION = "talowa_admin.view_dashboard"
RUNNING_SHOWN = 10
RECENT_SHOWN = 10
FIGURES_TEMPLATE = "admin/talowa_admin/dashboard/figures.html"
# A backstop for what the fingerprint does not see (a schedule's next run
# edited by hand); everything the dashboard is about changes the key at once.
FIGURES_CACHE_SECONDS = 60
_SEVERITY = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


@dataclass(frozen=True)
class DashboardAction:
    """A dashboard button: what it starts and the permissions it needs."""

    name: str
    label: str
    permissions: tuple[str, ...]
    help: str


# Who may press what follows the admin's own rules: backing up and verifying
# are the operator's (``run_backup``, ``verify_backup``); maintenance expires
# backups and deletes messages past retention (``expire_backup``, a Recovery
# admin's); a drill exercises the restore and holds its lock, as a recovery
# plan does (``run_recovery``).
ACTIONS = (
    DashboardAction(
        "back-up-now",
        "Back up now",
        ("backups.run_backup",),
        "Queue a full backup of the whole system.",
    ),
    DashboardAction(
        "verify",
        "Verify the newest chain",
        ("backups.verify_backup",),
        "Read, decrypt and check every archive of the newest system chain.",
    ),
    DashboardAction(
        "maintenance",
        "Run maintenance",
        ("backups.expire_backup",),
        "Expire backups by the keep rules, clean up messages past retention, "
        "optimize the storage and validate the data.",
    ),
    DashboardAction(
        "drill",
        "Run a restore drill",
        ("recovery.run_recovery",),
        "Restore the newest chain into a scratch copy, compare it, record the RTO.",
    ),
)
ACTIONS_BY_NAME = {action.name: action for action in ACTIONS}


def can_view(user) -> bool:
    """Say whether ``user`` may see the dashboard (every staff role may)."""
    return user.is_active and user.is_staff and user.has_perm(VIEW_PERMISSION)


def allowed_actions(user) -> list[DashboardAction]:
    """Return the buttons ``user``'s role allows, in the page's order."""
    return [action for action in ACTIONS if user.has_perms(action.permissions)]


def dashboard_context(user) -> dict[str, Any]:
    """Return the whole dashboard: its live parts and the user's buttons."""
    return {"dashboard": live_figures(), "dashboard_actions": allowed_actions(user)}


def live_figures() -> dict[str, Any]:
    """Return every figure the dashboard shows (all of them refresh live).

    ``figures_html`` is the HTML of every section but the jobs under way,
    cached with the figures under the activity's fingerprint.
    """
    jobs = running_jobs()
    return {**cached_figures(), "jobs": jobs, "running": jobs["any"]}


def cached_figures() -> dict[str, Any]:
    """Return the figures and their sections' HTML, cached until activity."""
    key = "talowa:dashboard:" + activity_fingerprint()
    figures = cache.get(key)
    if figures is None:
        figures = status_figures()
        figures["figures_html"] = render_to_string(
            FIGURES_TEMPLATE, {"dashboard": figures}
        )
        cache.set(key, figures, FIGURES_CACHE_SECONDS)
    return figures


def status_figures() -> dict[str, Any]:
    """Compute the figures of every section but the jobs under way."""
    # The facade's own status around uncached storage figures: this cache's
    # key already changes with the catalog.
    status = backup_status(storage_usage())
    return {
        "storage": storage_figures(status["storage_usage"]),
        "history": history_figures(status["backup_history"]),
        "chain": newest_chain(),
        "schedules": status["schedules"],
        "jobs_schedules": maintenance_job_summaries(),
        "health": health_figures(status["health"]),
        "recommendations": status["recommendations"],
        "drill": newest_finished_drill(),
    }


def activity_fingerprint() -> str:
    """Return a digest of what changes when anything the dashboard shows changes.

    One query: aggregates over the catalog (backups, completed ones and their
    bytes, the newest creation, start, finish and verification) and the
    newest row and finish of each history the page reads (health checks,
    drills, cleanups, maintenance runs, schedule runs, the schedules and the
    queue's schedules), plus today's date (the daily series end today).
    """
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql(connection.vendor))
        row = cursor.fetchone()
    text = repr((timezone.localdate(), *row))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@functools.cache
def _fingerprint_sql(vendor: str) -> str:
    """The fingerprint's SQL (no parameter), written once per database kind.

    Plain SQL that SQLite and PostgreSQL both run: the ORM would build and
    compile a query of a dozen subqueries on every request, which costs
    more CPU than running it.
    """
    quote = connection.ops.quote_name

    def newest(model, *fields: str) -> list[str]:
        table = quote(model._meta.db_table)
        return [f"(SELECT MAX({quote(field)}) FROM {table})" for field in fields]

    backup = Backup._meta
    completed = f"{quote('status')} = '{Backup.Status.COMPLETED.value}'"
    columns = [
        "COUNT(*)",
        f"SUM(CASE WHEN {completed} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {completed} THEN {quote('stored_bytes')} ELSE 0 END)",
        *(
            f"MAX({quote(field)})"
            for field in ("created_at", "started_at", "finished_at", "verified_at")
        ),
        *newest(HealthSnapshot, "id"),
        *newest(RestoreDrill, "id", "finished_at"),
        *newest(CleanupRun, "id", "finished_at"),
        *newest(MaintenanceRun, "id", "finished_at"),
        *newest(BackupScheduleRun, "id", "finished_at"),
        *newest(BackupSchedule, "id", "last_run_at"),
        *newest(Schedule, "id", "next_run"),
    ]
    return f"SELECT {', '.join(columns)} FROM {quote(backup.db_table)}"


def running_jobs() -> dict[str, Any]:
    """Return the backups, drills and maintenance runs under way, and the queue."""
    backups = list(
        Backup.objects.filter(status__in=[Backup.Status.PENDING, Backup.Status.RUNNING])
        .select_related("owner")
        .order_by("created_at")[:RUNNING_SHOWN]
    )
    # A backup whose worker died is failed as such, not shown running (as
    # the backup list does); drills and maintenance runs likewise.
    failed = set(mark_stale_backups(unfinished=backups))
    backups = [backup for backup in backups if backup.id not in failed]
    drills = running_drills()
    maintenance = running_maintenance()
    queued = queued_count()
    return {
        "backups": backups,
        "drills": drills,
        "maintenance": maintenance,
        "queued": queued,
        "any": bool(backups or drills or maintenance or queued),
    }


def storage_figures(usage: dict[str, Any]) -> dict[str, Any]:
    """Arrange the storage usage: totals, shares, the trend against the quota."""
    quota = settings.TALOWA_BACKUP_STORAGE_QUOTA_BYTES or 0
    total = usage["total"]["bytes"]
    daily = usage["daily"]
    by_type = usage["by_data_type"]
    largest = max((entry["bytes"] for entry in by_type.values()), default=0)
    return {
        "total": usage["total"],
        "quota": quota,
        "quota_percent": round(100 * total / quota, 1) if quota else None,
        "by_data_type": [
            {"name": name, **entry, "share": _percent(entry["bytes"], largest)}
            for name, entry in by_type.items()
        ],
        "by_scope": [
            {"name": name, **entry, "share": _percent(entry["bytes"], total)}
            for name, entry in usage["by_scope"].items()
        ],
        "top_users": usage["top_users"],
        "daily": daily,
        "daily_rows": figure_rows(
            daily, ("total_bytes", "added_bytes", "added_objects")
        ),
        "trend_chart": line_chart(
            [day["total_bytes"] for day in daily],
            labels=[daily[0]["date"], daily[-1]["date"]] if daily else [],
            title=f"Backup storage held over the last {len(daily)} days",
            limit=quota or None,
            limit_label=f"quota {human_size(quota)}",
            describe=lambda value: human_size(int(value)),
        ),
    }


def history_figures(recent: list[dict[str, Any]]) -> dict[str, Any]:
    """Arrange the backups per day (chart and table) and the newest backups."""
    days = daily_outcomes()
    return {
        "days": days,
        "completed": sum(day["completed"] for day in days),
        "failed": sum(day["failed"] for day in days),
        "day_rows": figure_rows(
            days,
            ("completed", "failed", "average_seconds", "longest_seconds"),
            describe={
                "average_seconds": human_seconds,
                "longest_seconds": human_seconds,
            },
        ),
        "chart": stacked_bars(
            [[day["completed"] for day in days], [day["failed"] for day in days]],
            labels=[day["date"] for day in days],
            classes=["bar-completed", "bar-failed"],
            title=f"Backups completed and failed per day, last {len(days)} days",
        ),
        "recent": recent[:RECENT_SHOWN],
    }


def health_figures(components: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the components, worst first, and the overall state."""
    rows = sorted(
        ({"name": name, **state} for name, state in components.items()),
        key=lambda row: (-_SEVERITY.get(row["status"], 2), row["name"]),
    )
    overall = rows[0]["status"] if rows else None
    return {
        "overall": overall,
        "components": rows,
        "checked_at": max((row["checked_at"] for row in rows), default=None),
    }


def figure_rows(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    *,
    describe: dict[str, Callable[[Any], str]] | None = None,
) -> SafeString:
    """Return a chart's figures as table rows: the date, then ``columns``.

    Built here rather than by a template loop: a chart's table has a row a
    day, and the template engine's cost per cell was most of the page's.
    Every cell is escaped; ``describe`` formats a column (seconds, say).
    """
    describe = describe or {}
    cells = [(name, describe.get(name, str)) for name in columns]
    return mark_safe(  # noqa: S308 - every value is escaped here
        "".join(
            f'<tr><th scope="row">{escape(row["date"])}</th>'
            + "".join(
                f'<td class="num">{escape(show(row[name]))}</td>'
                for name, show in cells
            )
            + "</tr>"
            for row in rows
        )
    )


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0
