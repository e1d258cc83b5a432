"""Precedence of retention policies and the validation of every policy input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from retention.exceptions import InvalidRetentionPolicy
from retention.models import LegalBound, LegalHold, RetentionPolicy
from retention.services import get_effective_policy, set_retention_policy
from retention.types import DEFAULT_PERIODS, RETENTION_TYPES
from talowa_admin.models import AuditEvent, SystemSettings

pytestmark = pytest.mark.django_db


def test_without_any_policy_every_type_has_the_global_default(people):
    policy = get_effective_policy(people.asha)
    assert list(policy) == list(RETENTION_TYPES)
    for rtype, entry in policy.items():
        assert entry["days"] == DEFAULT_PERIODS[rtype]
        assert entry["source"] == "global"
        assert entry["held"] is False
        assert entry["legal_min"] is None and entry["legal_max"] is None


def test_the_global_default_is_edited_in_system_settings(people):
    set_retention_policy(
        entity_id=None, entity_type="global", retention_periods={"missed_calls": 10}
    )
    assert SystemSettings.load().default_retention_periods["missed_calls"] == 10
    assert get_effective_policy(people.asha)["missed_calls"]["days"] == 10


def test_a_user_preference_applies_to_that_user_only(people):
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"regular_messages": 40},
    )
    mine = get_effective_policy(people.asha)["regular_messages"]
    assert (mine["days"], mine["source"], mine["user_days"]) == (40, "user", 40)
    assert get_effective_policy(people.ravi)["regular_messages"]["days"] == 365


def test_the_shortest_of_user_and_conversation_preference_wins(people):
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"group_messages": 100, "voice_messages": 20},
    )
    set_retention_policy(
        entity_id=people.group.pk,
        entity_type="conversation",
        retention_periods={"group_messages": 50, "voice_messages": 45},
    )
    policy = get_effective_policy(people.asha, people.group)
    assert (policy["group_messages"]["days"], policy["group_messages"]["source"]) == (
        50,
        "conversation",
    )
    assert (policy["voice_messages"]["days"], policy["voice_messages"]["source"]) == (
        20,
        "user",
    )


def test_a_legal_minimum_raises_a_shorter_stored_preference(people):
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"media_files": 5},
    )
    LegalBound.objects.create(retention_type="media_files", min_days=30)
    entry = get_effective_policy(people.asha)["media_files"]
    assert (entry["days"], entry["source"], entry["legal_min"]) == (
        30,
        "legal_minimum",
        30,
    )


def test_a_legal_maximum_lowers_the_global_default(people):
    LegalBound.objects.create(retention_type="regular_messages", max_days=200)
    entry = get_effective_policy(people.asha)["regular_messages"]
    assert (entry["days"], entry["source"]) == (200, "legal_maximum")


def test_a_legal_hold_overrides_a_short_user_preference(people):
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"call_history": 1},
    )
    LegalHold.objects.create(user=people.asha, reason="court order 4/2026")
    entry = get_effective_policy(people.asha)["call_history"]
    assert (entry["days"], entry["source"], entry["held"]) == (None, "legal_hold", True)


def test_a_hold_on_a_conversation_covers_it_and_ends_with_its_until(people):
    hold = LegalHold.objects.create(
        conversation=people.group,
        reason="inquiry",
        until=timezone.now() + timedelta(days=1),
    )
    assert get_effective_policy(people.asha, people.group)["group_messages"]["held"]
    assert not get_effective_policy(people.asha, people.direct)["regular_messages"][
        "held"
    ]
    LegalHold.objects.filter(pk=hold.pk).update(
        until=timezone.now() - timedelta(seconds=1)
    )
    assert not get_effective_policy(people.asha, people.group)["group_messages"]["held"]


def test_automatic_cleanup_off_keeps_unless_the_law_caps_it(people):
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={},
        auto_cleanup=False,
    )
    assert get_effective_policy(people.asha)["system_messages"]["days"] is None
    LegalBound.objects.create(retention_type="system_messages", max_days=60)
    entry = get_effective_policy(people.asha)["system_messages"]
    assert (entry["days"], entry["source"]) == (60, "legal_maximum")


@pytest.mark.parametrize(
    ("periods", "field", "message"),
    [
        ({"messages": 30}, "messages", "messages: unknown retention type"),
        ({"call_history": "a year"}, "call_history", "whole number of days from 1"),
        ({"call_history": 2.5}, "call_history", "whole number of days"),
        ({"call_history": -3}, "call_history", "-3 days is outside the allowed range"),
        ({"call_history": 0}, "call_history", "1 to 36500 days"),
        ({"call_history": True}, "call_history", "whole number of days"),
    ],
)
def test_invalid_periods_are_refused_naming_the_field(people, periods, field, message):
    with pytest.raises(InvalidRetentionPolicy) as caught:
        set_retention_policy(
            entity_id=people.asha.pk, entity_type="user", retention_periods=periods
        )
    assert message in caught.value.message_dict[field][0]
    assert not RetentionPolicy.objects.exists()


def test_a_preference_outside_the_legal_bounds_is_refused_with_the_range(people):
    LegalBound.objects.create(retention_type="missed_calls", min_days=14, max_days=90)
    for days in (7, 91):
        with pytest.raises(InvalidRetentionPolicy) as caught:
            set_retention_policy(
                entity_id=people.asha.pk,
                entity_type="user",
                retention_periods={"missed_calls": days},
            )
        assert (
            "allowed range, 14 to 90 days"
            in caught.value.message_dict["missed_calls"][0]
        )
    set_retention_policy(
        entity_id=people.asha.pk,
        entity_type="user",
        retention_periods={"missed_calls": 14},
    )
    assert get_effective_policy(people.asha)["missed_calls"]["days"] == 14


def test_unknown_entities_are_refused(people):
    with pytest.raises(InvalidRetentionPolicy) as caught:
        set_retention_policy(
            entity_id=999999, entity_type="user", retention_periods={"media_files": 9}
        )
    assert "No user with id 999999" in caught.value.message_dict["entity_id"][0]
    with pytest.raises(InvalidRetentionPolicy) as caught:
        set_retention_policy(
            entity_id=1, entity_type="planet", retention_periods={"media_files": 9}
        )
    assert "entity_type" in caught.value.message_dict


def test_a_saved_policy_is_audited(people):
    set_retention_policy(
        entity_id=people.group.pk,
        entity_type="conversation",
        retention_periods={"group_messages": 60},
        actor=people.asha,
    )
    event = AuditEvent.objects.get(action="retention.policy_change")
    assert event.actor == people.asha
    assert event.details["to"] == {"group_messages": 60}
    assert RetentionPolicy.objects.get(conversation=people.group).retention_periods == {
        "group_messages": 60
    }


def test_the_settings_facade_refuses_a_global_default_outside_the_bounds(people):
    from django.core.exceptions import ValidationError

    from talowa_admin.services import configure_system_settings

    LegalBound.objects.create(retention_type="voice_messages", min_days=90)
    with pytest.raises(ValidationError) as caught:
        configure_system_settings(default_retention_periods={"voice_messages": 60})
    assert "60 days is outside the allowed range, 90 to 36500" in str(caught.value)
    assert SystemSettings.load().default_retention_periods["voice_messages"] == 60


def test_holds_past_their_until_or_on_conversations_are_not_user_holds(people):
    from retention.selectors import has_active_legal_hold, users_under_legal_hold

    LegalHold.objects.create(conversation=people.group, reason="inquiry")
    LegalHold.objects.create(
        user=people.ravi, reason="ended", until=timezone.now() - timedelta(days=1)
    )
    LegalHold.objects.create(user=people.meena, reason="open")
    assert users_under_legal_hold() == {people.meena.pk}
    assert not has_active_legal_hold(user_id=people.ravi.pk)
