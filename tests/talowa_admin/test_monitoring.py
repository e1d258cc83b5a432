"""/metrics (Prometheus text format) and /api/status/: who may read them, and what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups.services import create_full_backup
from messaging.models import Message
from recovery.services import check_system_health, run_restore_drill
from recovery.services.health_checks import CHECKS
from retention.services import cleanup_expired_messages
from talowa_admin import roles

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "metrics-token-for-tests"


def samples(response) -> dict[tuple, float]:
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_with_token_parse_as_prometheus_text(world, client, settings):
    settings.TALOWA_METRICS_TOKEN = TOKEN
    create_full_backup()
    old = Message.objects.create(conversation=world.group, kind="system", body="x")
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    cleanup_expired_messages()
    drill = run_restore_drill()
    check_system_health(checks=tuple(c for c in CHECKS if c.name == "backups"))
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    values = samples(response)
    assert values[("talowa_backup_newest_age_seconds", (("scope", "system"),))] >= 0
    assert values[("talowa_backup_last_size_bytes", (("kind", "full"),))] > 0
    assert values[("talowa_backup_archives", ())] == 1
    assert values[("talowa_restore_drill_passed", ())] == 1
    assert values[("talowa_restore_drill_rto_seconds", ())] == pytest.approx(
        drill.rto_seconds
    )
    assert values[("talowa_health_status", (("component", "backups"),))] == 0
    for runs in ("total", "last"):
        retention = (("runs", runs), ("type", "system_messages"))
        assert values[("talowa_retention_deleted_rows", retention)] == 1


def test_metrics_refuse_without_token_or_staff_session(
    db, client, settings, make_user, role_user
):
    settings.TALOWA_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(make_user())
    assert client.get("/metrics").status_code == 403
    client.force_login(role_user(roles.BACKUP_VIEWER))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert ("talowa_backup_archives", ()) in samples(response)


def test_metrics_without_a_configured_token_accept_no_token(db, client, settings):
    settings.TALOWA_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_api_status_is_for_staff_only(world, client, make_user, role_user):
    create_full_backup()
    assert client.get("/api/status/").status_code == 403
    client.force_login(make_user())
    assert client.get("/api/status/").status_code == 403
    client.force_login(role_user(roles.BACKUP_VIEWER))
    response = client.get("/api/status/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "storage_usage",
        "backup_history",
        "schedules",
        "recommendations",
    }
    assert body["storage_usage"]["total"]["objects"] == 1
