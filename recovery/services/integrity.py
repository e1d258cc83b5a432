"""Validate the live data: references, orphans, media bytes, counts.

Runs after every restore and from maintenance. Read-only: it reports, it
never repairs. Each check returns ``ok``, ``warning`` or ``error`` with a
count and a few example ids.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.files.storage import storages
from django.db import connection

from backups.models import Backup
from backups.registry import TABLES
from recovery.staging import SCHEMA
from talowa_admin import locks

logger = logging.getLogger(__name__)

EXAMPLES = 5
READ_SIZE = 1024 * 1024


@dataclass
class Check:
    name: str
    status: str
    count: int = 0
    message: str = ""
    examples: list[Any] = field(default_factory=list)


def validate_data_integrity(*, check_media: bool = True) -> dict[str, Any]:
    """Run every check; the overall status is the worst of them."""
    checks = [
        *_reference_checks(),
        _senders_outside_conversation(),
        _direct_conversations(),
        _leftover_staging(),
    ]
    if check_media:
        checks.append(_media_bytes())
    checks.append(_counts_against_latest_backup())
    worst = (
        "error"
        if any(c.status == "error" for c in checks)
        else "warning"
        if any(c.status == "warning" for c in checks)
        else "ok"
    )
    return {"status": worst, "checks": [asdict(c) for c in checks]}


def _query(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _reference_checks() -> list[Check]:
    """Every foreign key of the messaging tables points at an existing row.

    A reference the database enforces with a validated foreign key cannot
    dangle, so only the others are queried (all of them on SQLite, whose
    constraints can be switched off per connection).
    """
    checks = []
    enforced = _enforced_references()
    for spec in TABLES:
        for column in spec.model._meta.concrete_fields:
            if not column.is_relation or (spec.table, column.column) in enforced:
                continue
            target = column.related_model._meta.db_table
            rows = _query(
                f"SELECT t.id FROM {spec.table} t LEFT JOIN {target} r ON "
                f"r.id = t.{column.column} WHERE t.{column.column} IS NOT NULL "
                f"AND r.id IS NULL ORDER BY t.id"
            )
            if rows:
                checks.append(
                    Check(
                        f"references:{spec.label}.{column.name}",
                        "error",
                        len(rows),
                        f"{len(rows)} {spec.label} rows point at missing {target} rows",
                        [r[0] for r in rows[:EXAMPLES]],
                    )
                )
    if checks:
        return checks
    message = "every reference resolves"
    if enforced:
        message += " (foreign keys validated by the database)"
    return [Check("references", "ok", 0, message)]


def _enforced_references() -> set[tuple[str, str]]:
    """Return (table, column) pairs under a validated PostgreSQL foreign key."""
    if connection.vendor != "postgresql":
        return set()
    return set(
        _query(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = "
            "c.conkey[1] WHERE c.contype = 'f' AND c.convalidated AND "
            "cardinality(c.conkey) = 1"
        )
    )


def _senders_outside_conversation() -> Check:
    rows = _query(
        "SELECT m.id FROM messaging_message m WHERE m.sender_id IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM messaging_participant p WHERE p.conversation_id "
        "= m.conversation_id AND p.user_id = m.sender_id) ORDER BY m.id"
    )
    if not rows:
        return Check("orphans:messages", "ok", 0, "every sender is a participant")
    return Check(
        "orphans:messages",
        "warning",
        len(rows),
        f"{len(rows)} messages were sent by someone who is no longer a "
        "participant of the conversation",
        [r[0] for r in rows[:EXAMPLES]],
    )


def _direct_conversations() -> Check:
    rows = _query(
        "SELECT c.id FROM messaging_conversation c WHERE c.kind = 'direct' AND "
        "(SELECT count(*) FROM messaging_participant p WHERE p.conversation_id = "
        "c.id) > 2 ORDER BY c.id"
    )
    if not rows:
        return Check("orphans:direct", "ok", 0, "direct conversations have two people")
    return Check(
        "orphans:direct",
        "warning",
        len(rows),
        f"{len(rows)} direct conversations have more than two participants",
        [r[0] for r in rows[:EXAMPLES]],
    )


def _leftover_staging() -> Check:
    """Staged tables of a killed restore take space until the next restore."""
    if connection.vendor != "postgresql" or locks.is_held(
        locks.RESTORE_LOCK,
        clear_dead=False,  # read-only: report, never repair
    ):
        return Check("staging", "ok", 0, "no staged tables left behind")
    rows = _query(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN "
        "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
        f"'{SCHEMA}' AND c.relkind = 'r' ORDER BY 1"
    )
    if not rows:
        return Check("staging", "ok", 0, "no staged tables left behind")
    size = sum(r[1] for r in rows)
    return Check(
        "staging",
        "warning",
        len(rows),
        f"a restore that did not finish left {len(rows)} staged tables "
        f"({size / 1e6:,.1f} MB) in schema {SCHEMA}; the next restore drops "
        f"them, or drop it yourself: DROP SCHEMA {SCHEMA} CASCADE",
        [r[0] for r in rows[:EXAMPLES]],
    )


def _media_bytes() -> Check:
    """Each distinct media file is present with the size and SHA-256 recorded."""
    media = storages["media"]
    missing, wrong, checked = [], [], 0
    for sha256, name, size in _query(
        "SELECT sha256, min(file), min(size) FROM messaging_mediafile "
        "GROUP BY sha256 ORDER BY sha256"
    ):
        checked += 1
        try:
            handle = media.open(name, "rb")
        except (FileNotFoundError, OSError):
            missing.append(sha256)
            continue
        digest, length = hashlib.sha256(), 0
        with handle:
            while data := handle.read(READ_SIZE):
                digest.update(data)
                length += len(data)
        if digest.hexdigest() != sha256 or length != size:
            wrong.append(sha256)
    if not missing and not wrong:
        return Check("media", "ok", checked, f"{checked} media files verified")
    return Check(
        "media",
        "error",
        len(missing) + len(wrong),
        f"{len(missing)} media files missing, {len(wrong)} with wrong bytes",
        (missing + wrong)[:EXAMPLES],
    )


def _counts_against_latest_backup() -> Check:
    latest = (
        Backup.objects.filter(
            status=Backup.Status.COMPLETED, scope="system", kind="full"
        )
        .order_by("-created_at")
        .first()
    )
    if latest is None:
        return Check("counts", "warning", 0, "no full system backup to compare with")
    current = {spec.data_type: 0 for spec in TABLES}
    for spec in TABLES:
        if spec.label in {"messaging.participant"}:
            continue
        current[spec.data_type] = spec.model.objects.count()
    deltas = {
        name: current[name] - latest.counts.get(name, 0)
        for name in ("messages", "conversations", "call_history", "media_files")
        if name in latest.data_types
    }
    message = ", ".join(f"{k} {v:+d}" for k, v in deltas.items())
    return Check(
        "counts",
        "ok",
        0,
        f"since {latest.id}: {message}",
        [{"backup": latest.id, "deltas": deltas}],
    )
