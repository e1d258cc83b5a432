"""Status for machines: ``/metrics`` (Prometheus text format) and ``/api/status/``.

``/metrics`` answers a request bearing ``Authorization: Bearer
<TALOWA_METRICS_TOKEN>`` or a staff session, 403 otherwise. Its figures come
from the catalog and the newest stored health check, so a scrape is cheap and
never runs the health check itself. ``/api/status/`` returns
``get_backup_status()`` as JSON, to staff only.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from backups.models import Backup
from recovery.models import RecoveryRun, RestoreDrill
from recovery.services.health import latest_health
from retention.models import CleanupRun
from talowa_admin.queue import queued_count
from talowa_admin.services import get_backup_status

HEALTH_VALUES = {"healthy": 0, "degraded": 1, "unhealthy": 2}


class CatalogCollector:
    """Collect TALOWA's figures at scrape time."""

    def collect(self) -> Iterator[Metric]:
        yield from self._backups()
        yield from self._restores()
        yield from self._health()
        yield from self._retention()
        depth = queued_count()
        if depth is not None:
            yield GaugeMetricFamily(
                "talowa_queue_depth", "Tasks waiting in the django-q2 queue.", depth
            )

    def _backups(self) -> Iterator[Metric]:
        now = timezone.now()
        completed = Backup.objects.filter(status=Backup.Status.COMPLETED)
        age = GaugeMetricFamily(
            "talowa_backup_newest_age_seconds",
            "Age of the newest completed backup, per scope.",
            labels=["scope"],
        )
        duration = GaugeMetricFamily(
            "talowa_backup_last_duration_seconds",
            "Duration of the newest completed backup, per kind.",
            labels=["kind"],
        )
        size = GaugeMetricFamily(
            "talowa_backup_last_size_bytes",
            "Stored size of the newest completed backup, per kind.",
            labels=["kind"],
        )
        for scope in Backup.Scope.values:
            newest = completed.filter(scope=scope).order_by("-created_at").first()
            if newest:
                age.add_metric([scope], (now - newest.created_at).total_seconds())
        for kind in Backup.Kind.values:
            newest = completed.filter(kind=kind).order_by("-created_at").first()
            if newest:
                if newest.duration:
                    duration.add_metric([kind], newest.duration.total_seconds())
                size.add_metric([kind], newest.stored_bytes)
        held = completed.aggregate(bytes=Sum("stored_bytes"), objects=Count("id"))
        yield from (age, duration, size)
        yield GaugeMetricFamily(
            "talowa_backup_storage_bytes",
            "Bytes of the completed backups held in the backup storage.",
            held["bytes"] or 0,
        )
        yield GaugeMetricFamily(
            "talowa_backup_archives", "Completed backups held.", held["objects"]
        )

    def _restores(self) -> Iterator[Metric]:
        run = (
            RecoveryRun.objects.filter(
                status=RecoveryRun.Status.COMPLETED,
                started_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by("-finished_at")
            .first()
        )
        if run:
            yield GaugeMetricFamily(
                "talowa_restore_last_duration_seconds",
                "Duration of the newest completed restore.",
                (run.finished_at - run.started_at).total_seconds(),
            )
        drill = RestoreDrill.objects.exclude(status=RestoreDrill.Status.RUNNING).first()
        if drill:
            yield GaugeMetricFamily(
                "talowa_restore_drill_passed",
                "1 when the newest restore drill passed, else 0.",
                int(drill.status == RestoreDrill.Status.PASSED),
            )
        passed = RestoreDrill.objects.filter(status=RestoreDrill.Status.PASSED).first()
        if passed and passed.rto_seconds is not None:
            yield GaugeMetricFamily(
                "talowa_restore_drill_rto_seconds",
                "Time to restore measured by the newest passed restore drill.",
                passed.rto_seconds,
            )

    def _health(self) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            "talowa_health_status",
            "Newest stored health of each component: 0 healthy, 1 degraded, "
            "2 unhealthy.",
            labels=["component"],
        )
        for name, snapshot in latest_health().items():
            health.add_metric([name], HEALTH_VALUES[snapshot.status])
        yield health

    def _retention(self) -> Iterator[Metric]:
        deleted = GaugeMetricFamily(
            "talowa_retention_deleted_rows",
            "Rows the retention cleanup removed, per type: by all runs (total) "
            "and by the newest run (last).",
            labels=["type", "runs"],
        )
        runs = CleanupRun.objects.filter(dry_run=False)
        totals: dict[str, int] = {}
        for counts in runs.values_list("counts", flat=True):
            for rtype, count in (counts or {}).items():
                totals[rtype] = totals.get(rtype, 0) + count
        for rtype, count in sorted(totals.items()):
            deleted.add_metric([rtype, "total"], count)
        last = runs.exclude(status=CleanupRun.Status.RUNNING).first()
        for rtype, count in sorted(((last.counts or {}) if last else {}).items()):
            deleted.add_metric([rtype, "last"], count)
        yield deleted


def _token_matches(request: HttpRequest) -> bool:
    token = settings.TALOWA_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(value.strip().encode(), token.encode())
    )


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return user.is_authenticated and user.is_active and user.is_staff


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not (_token_matches(request) or _is_staff(request)):
        return HttpResponse(
            "metrics need a bearer token or a staff session\n",
            status=403,
            content_type="text/plain",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    if not _is_staff(request):
        return JsonResponse({"error": "staff only"}, status=403)
    return JsonResponse(get_backup_status(), encoder=DjangoJSONEncoder)
