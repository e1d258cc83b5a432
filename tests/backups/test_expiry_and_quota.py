"""Keep rules, chains, legal holds and per-user quotas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from backups.exceptions import QuotaExceeded
from backups.models import Backup
from backups.services import cleanup_expired_backups, create_full_backup
from backups.services.expiry import KeepRules, plan_expiry
from backups.storage import object_store
from retention.models import LegalHold
from talowa_admin.services import configure_system_settings

pytestmark = pytest.mark.django_db(transaction=True)


def make_catalog(days: int, *, incrementals_per_full: int = 0, owner=None):
    """Completed backups, one a day for ``days`` days, oldest first."""
    start = timezone.now() - timedelta(days=days)
    made, parent = [], None
    for n in range(days):
        is_full = (
            parent is None
            or incrementals_per_full == 0
            or (n % (incrementals_per_full + 1) == 0)
        )
        backup = Backup.objects.create(
            kind="full" if is_full else "incremental",
            parent=None if is_full else parent,
            scope="user" if owner else "system",
            owner=owner,
            status="completed",
            created_at=start + timedelta(days=n),
            stored_bytes=10,
        )
        parent = backup
        made.append(backup)
    return made


def test_keep_last_and_daily(db):
    backups = make_catalog(10)
    plan = plan_expiry(backups, KeepRules(keep_last=2))
    assert [b.id for b in plan.expire] == [b.id for b in reversed(backups[:8])]
    plan = plan_expiry(backups, KeepRules(keep_daily=5))
    assert len(plan.keep) == 5


def test_weekly_and_monthly_keep_the_newest_of_each_bucket(db, settings):
    settings.TIME_ZONE = "UTC"
    # One backup a day at noon, Thursday 2026-01-01 to Sunday 2026-03-01.
    first = datetime(2026, 1, 1, 12, tzinfo=UTC)
    backups = [
        Backup.objects.create(
            kind="full",
            scope="system",
            status="completed",
            created_at=first + timedelta(days=n),
        )
        for n in range(60)
    ]
    by_day = {b.created_at.date(): b.id for b in backups}
    plan = plan_expiry(backups, KeepRules(keep_weekly=2, keep_monthly=2))
    # ISO weeks run Monday to Sunday: the last two end on Mar 1 and Feb 22;
    # the last two months end on Mar 1 and Feb 28.
    assert plan.keep == {
        by_day[date(2026, 3, 1)]: ["weekly", "monthly"],
        by_day[date(2026, 2, 22)]: ["weekly"],
        by_day[date(2026, 2, 28)]: ["monthly"],
    }
    assert {b.id for b in plan.expire} == set(by_day.values()) - set(plan.keep)


def test_keep_within(db):
    backups = make_catalog(10)
    plan = plan_expiry(backups, KeepRules(keep_within=timedelta(days=3)))
    assert len(plan.keep) == 4


def test_a_full_needed_by_a_kept_incremental_is_never_expired(db):
    backups = make_catalog(8, incrementals_per_full=3)  # F i i i F i i i
    plan = plan_expiry(backups, KeepRules(keep_last=1))
    kept = {b.id for b in backups if b.id in plan.keep}
    assert kept == {b.id for b in backups[4:]}  # the whole newest chain
    assert "needed by a kept incremental" in plan.keep[backups[4].id]


def test_legal_hold_keeps_everything(make_user):
    user = make_user("held")
    backups = make_catalog(5, owner=user)
    LegalHold.objects.create(user=user, reason="court order 12/2026")
    plan = plan_expiry(backups, KeepRules(keep_last=1))
    assert plan.expire == []


def test_no_rule_is_refused():
    with pytest.raises(ValueError, match="no keep rule"):
        KeepRules()


def test_cleanup_dry_run_changes_nothing_then_expires(world):
    first = Backup.objects.get(pk=create_full_backup())
    second = Backup.objects.get(pk=create_full_backup())
    preview = cleanup_expired_backups(keep_last=1, dry_run=True)
    assert preview["would_expire"] == [first.id]
    assert object_store().exists(first.object_key)
    result = cleanup_expired_backups(keep_last=1, actor="test")
    assert result["expired"] == [first.id]
    first.refresh_from_db()
    assert first.status == "expired"
    assert not object_store().exists(first.object_key)
    assert object_store().exists(second.object_key)


def test_count_quota_expires_the_oldest_chain(world):
    configure_system_settings(max_backups_per_user=2)
    ids = [create_full_backup(user=world.asha) for _ in range(3)]
    statuses = dict(Backup.objects.values_list("id", "status"))
    assert [statuses[i] for i in ids] == ["expired", "completed", "completed"]


def test_count_quota_without_cleanup_is_a_clear_error(world):
    configure_system_settings(max_backups_per_user=1, enable_automatic_cleanup=False)
    create_full_backup(user=world.asha)
    with pytest.raises(QuotaExceeded, match="max_backups_per_user"):
        create_full_backup(user=world.asha)
    # System backups have no per-user quota.
    assert create_full_backup()


def test_storage_quota_fails_the_backup_when_nothing_can_go(world):
    configure_system_settings(max_storage_per_user=1024 * 1024)
    Backup.objects.create(
        kind="full",
        scope="user",
        owner=world.asha,
        status="completed",
        stored_bytes=1024 * 1024,
        created_at=timezone.now() - timedelta(days=30),
    )
    LegalHold.objects.create(user=world.asha, reason="investigation")
    with pytest.raises(QuotaExceeded, match="max_storage_per_user"):
        create_full_backup(user=world.asha)
    failed = Backup.objects.get(status="failed")
    assert "max_storage_per_user" in failed.error
    assert not object_store().exists(failed.object_key)
