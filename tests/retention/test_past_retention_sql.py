"""The rows past retention after a restore are counted and archived by the
database: the same rows as the per-row precedence, with no row loaded."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation, Participant
from retention.models import LegalBound, LegalHold
from retention.services import (
    cleanup_expired_messages,
    count_expired,
    count_past_retention,
    retention_after_restore,
    scanning,
    set_retention_policy,
)
from retention.services.policies import load_policy_table
from retention.types import RETENTION_TYPES
from tests.retention.conftest import add_media, aged_call, aged_message

pytestmark = pytest.mark.django_db

AGES = (5, 25, 35, 45, 55, 65, 85, 95, 105, 175, 185, 210, 310, 370, 400)
KINDS = ("regular", "group", "anonymous", "system", "voice")


def _rows(w, extra, *, copies: int = 1) -> None:
    """Messages, calls and media of every type and party, at ages across periods."""
    pairs = [(w.asha, w.ravi), (w.ravi, w.meena), (extra, w.asha), (extra, w.ravi)]
    places = [(w.direct, w.asha), (w.direct, w.ravi), (w.group, w.meena)]
    places += [(w.group, extra), (w.group, None), (w.third, extra)]
    for _, days, kind, (conversation, sender) in itertools.product(
        range(copies), AGES, KINDS, places
    ):
        if sender is None and kind != "system":
            continue  # only system messages have no sender
        message = aged_message(conversation, sender, kind=kind, days=days)
        if kind == "voice" and sender is not None:
            media = add_media(sender, f"{days}".encode(), message=message)
            type(media).objects.filter(pk=media.pk).update(
                created_at=message.created_at
            )
    for _, days, status, (caller, callee) in itertools.product(
        range(copies), AGES, ("completed", "rejected", "missed"), pairs
    ):
        aged_call(caller, callee, status=status, days=days)


def _policies(w, extra) -> None:
    """Preferences of users and conversations, a keep, holds, bounds changed since."""
    user = {"regular_messages": 100, "group_messages": 60, "call_history": 50}
    user |= {"media_files": 40, "missed_calls": 20}
    set_retention_policy(
        entity_id=w.asha.pk, entity_type="user", retention_periods=user
    )
    set_retention_policy(
        entity_id=w.ravi.pk,
        entity_type="user",
        retention_periods={},
        auto_cleanup=False,
    )
    set_retention_policy(
        entity_id=w.group.pk,
        entity_type="conversation",
        retention_periods={"group_messages": 20, "system_messages": 90},
    )
    set_retention_policy(
        entity_id=w.direct.pk,
        entity_type="conversation",
        retention_periods={"regular_messages": 300, "voice_messages": 30},
    )
    LegalHold.objects.create(user=w.meena, reason="court order")
    LegalHold.objects.create(conversation=w.third, reason="inquiry")
    # Bounds changed after the policies were saved: step 4 of the precedence.
    LegalBound.objects.create(retention_type="call_history", min_days=60)
    LegalBound.objects.create(retention_type="missed_calls", max_days=40)
    LegalBound.objects.create(retention_type="voice_messages", max_days=50)


@pytest.fixture
def mixed(people, make_user):
    w = people
    extra = make_user("kiran")
    w.third = Conversation.objects.create(kind="group", title="Inquiry")
    for user in (w.asha, extra):
        Participant.objects.create(
            conversation=w.third, user=user, joined_at=w.group.created_at
        )
    _policies(w, extra)
    return w, extra


def _per_row(user_id=None) -> dict[str, int]:
    """Count rows past retention as before: every row resolved in Python."""
    table = load_policy_table()
    counts = {}
    for rtype in RETENTION_TYPES:
        counts[rtype] = 0
        for row in scanning._queryset(rtype, scanning.Scope(user_id=user_id)):
            users, conversation = scanning.parties(rtype, row)
            days = table.resolve(rtype, users, conversation).days
            counts[rtype] += days is not None and row[1] < table.cutoff(days)
    return counts


def test_the_count_equals_the_per_row_precedence_on_mixed_data(mixed):
    w, extra = mixed
    _rows(w, extra)
    counted = count_past_retention()
    assert counted == _per_row()
    assert all(counted.values()) and counted != count_past_retention(user_id=w.asha.pk)
    assert counted == cleanup_expired_messages(dry_run=True)["deleted"]
    for user in (w.asha, w.ravi, w.meena, extra):
        assert count_past_retention(user_id=user.pk) == _per_row(user.pk), user


def test_the_restore_step_archives_exactly_what_it_counted(mixed):
    w, extra = mixed
    _rows(w, extra)
    before = count_past_retention()
    result = retention_after_restore(
        backup_id="backup_x", user_id=None, data_types=None
    )
    assert result["past_retention"] == before
    assert result["archived"] == {t: n for t, n in before.items() if n}
    assert count_expired() == dict.fromkeys(RETENTION_TYPES, 0)


def test_one_users_restore_archives_only_that_users_rows(mixed):
    w, extra = mixed
    _rows(w, extra)
    everyone = count_past_retention()
    mine = count_past_retention(user_id=w.asha.pk)
    result = retention_after_restore(
        backup_id="backup_x", user_id=w.asha.pk, data_types=["messages"]
    )
    messages = [t for t in RETENTION_TYPES if t.endswith("_messages")]
    assert result["archived"] == {t: mine[t] for t in messages if mine[t]}
    left = count_past_retention()
    assert left == {t: everyone[t] - (mine[t] if t in messages else 0) for t in left}


def _count_queries(w, extra, copies: int) -> tuple[int, list[int]]:
    _rows(w, extra, copies=copies)
    returned: list[int] = []

    def rows_returned(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "messaging_" in sql:  # a query of the data, not of the policies
            returned.append(context["cursor"].rowcount)
        return result

    with (
        CaptureQueriesContext(connection) as queries,
        connection.execute_wrapper(rows_returned),
    ):
        counted = count_past_retention()
    assert sum(counted.values()) > 0
    return len(queries), returned


def test_the_count_takes_the_same_queries_at_any_data_size(mixed):
    w, extra = mixed
    small, returned_small = _count_queries(w, extra, copies=1)
    large, returned_large = _count_queries(w, extra, copies=3)
    assert small == large <= len(RETENTION_TYPES) + 6
    # PostgreSQL says how many rows each query sent back: one at most (a count),
    # not the rows themselves (SQLite does not know: -1).
    assert len(returned_small) == len(RETENTION_TYPES)
    assert max(returned_small + returned_large) <= 1
