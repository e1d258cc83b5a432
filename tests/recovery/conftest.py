from __future__ import annotations

from django.db import connection

from tests.backups.conftest import World, add_media, age_all_rows, world  # noqa: F401

MESSAGING_TABLES = (
    "messaging_conversation",
    "messaging_participant",
    "messaging_message",
    "messaging_callrecord",
    "messaging_mediafile",
)


def table_state(tables=MESSAGING_TABLES) -> dict[str, list[tuple]]:
    """Every row of the messaging tables, engine-neutral, ordered by id."""
    from backups.registry import TABLES

    state = {}
    with connection.cursor() as cursor:
        for spec in TABLES:
            if spec.table not in tables:
                continue
            cursor.execute(
                f"SELECT {', '.join(spec.columns)} FROM {spec.table} ORDER BY id"
            )
            state[spec.table] = [
                tuple(_neutral(v) for v in row) for row in cursor.fetchall()
            ]
    return state


def _neutral(value):
    import json
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value
