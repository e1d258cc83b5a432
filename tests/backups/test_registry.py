from __future__ import annotations

from django.apps import apps

from backups.registry import EXCLUDED, TABLES, tables_for


def test_every_messaging_model_is_backed_up_or_excluded_with_a_reason():
    covered = {spec.label for spec in TABLES} | set(EXCLUDED)
    models = {
        m._meta.label_lower for m in apps.get_app_config("messaging").get_models()
    }
    missing = models - covered
    assert not missing, (
        f"add {sorted(missing)} to backups.registry.TABLES, or to EXCLUDED with a "
        "reason"
    )
    assert all(reason.strip() for reason in EXCLUDED.values())


def test_tables_come_after_the_tables_they_point_at():
    order = [spec.label for spec in TABLES]
    for position, spec in enumerate(TABLES):
        for field in spec.model._meta.concrete_fields:
            target = field.related_model
            if field.is_relation and target and target._meta.app_label == "messaging":
                assert order.index(target._meta.label_lower) < position, spec.label


def test_data_types_map_to_tables():
    assert [s.label for s in tables_for(["call_history"])] == ["messaging.callrecord"]
    assert [s.label for s in tables_for(["conversations"])] == [
        "messaging.conversation",
        "messaging.participant",
    ]
