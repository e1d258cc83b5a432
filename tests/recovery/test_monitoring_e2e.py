"""End to end through a real django-q2 cluster: the hourly health check and the
weekly restore drill run as schedules, and the health check sees the cluster."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection

from tests.recovery.conftest import ROOT, scratch  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER_DUE_NOW = (
    "from datetime import timedelta; "
    "from django.utils import timezone; "
    "from django_q.models import Schedule; "
    "from backups.services.scheduling import ensure_default_schedules; "
    "ensure_default_schedules(); "
    "names = ['talowa: health check', 'talowa: restore drill']; "
    "Schedule.objects.filter(name__in=names).update("
    "next_run=timezone.now() - timedelta(minutes=1))"
)
RESULTS = (
    "import json; "
    "from recovery.models import HealthSnapshot, RestoreDrill; "
    "print(json.dumps({'snapshots': HealthSnapshot.objects.count(), "
    "'drills': list(RestoreDrill.objects.values_list('status', flat=True))}))"
)


def test_schedules_run_in_a_real_cluster_and_health_sees_it(scratch):  # noqa: F811
    url = scratch.url(connection.vendor)
    scratch.manage(url, "migrate", "-v0")
    scratch.manage(
        url, "seed_messaging", "--users", "4", "--conversations", "3",
        "--messages", "100", "--calls", "5", "--media", "2", "--noinput",
    )  # fmt: skip
    scratch.manage(url, "create_backup")
    scratch.manage(url, "shell", "-c", REGISTER_DUE_NOW)
    idle = scratch.manage(url, "check_health", "--json", "--no-record", check=False)
    assert json.loads(idle.stdout)["components"]["workers"]["status"] == "unhealthy"
    with scratch.cluster(url) as cluster:
        deadline = time.monotonic() + 150
        while True:
            output = scratch.manage(url, "shell", "-c", RESULTS).stdout
            results = json.loads(output.strip().splitlines()[-1])
            busy = scratch.manage(
                url, "check_health", "--json", "--no-record", check=False
            )
            workers = json.loads(busy.stdout)["components"]["workers"]
            if results["snapshots"] and results["drills"]:
                break
            assert cluster.poll() is None, cluster.stderr.read()
            assert time.monotonic() < deadline, f"the schedules never ran: {results}"
            time.sleep(2)
    assert results["drills"] == ["passed"]
    assert workers["status"] == "healthy", workers
