"""Seed the messaging tables with deterministic synthetic data.

Invariants: the whole load, including ``replace``'s deletion, is one
transaction, so the tables end up either as they were or fully seeded; media
bytes are stored (content-addressed, idempotently) before the commit, so no
committed row names a missing object. Rows keep their generated history: the
change-tracking triggers (``messaging.triggers``) are off during the load, as
during a restore, so ``updated_at`` is the generated time, not the database's
clock. A backup chain does not span a seeding (``replace`` removes the
tombstones too): take a full backup after seeding.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from messaging.models import (
    CallRecord,
    Conversation,
    MediaFile,
    Message,
    Participant,
    Tombstone,
    media_storage,
)
from messaging.seeding import generator as gen
from messaging.seeding import messages
from messaging.seeding.media import build_payloads, store_payloads
from messaging.seeding.plan import MessagingNotEmpty, SeedError, SeedPlan
from messaging.seeding.timeline import Timeline
from messaging.seeding.users import ensure_users
from messaging.seeding.writers import Writer, writer_for
from messaging.triggers import switch_triggers

logger = logging.getLogger(__name__)

# Children before parents: the order deletion needs.
SEEDED_MODELS = (MediaFile, CallRecord, Message, Participant, Conversation)
COUNTED = {
    "messages": Message,
    "conversations": Conversation,
    "participants": Participant,
    "call_history": CallRecord,
    "media_files": MediaFile,
    "tombstones": Tombstone,
}


class Progress:
    """Receives progress while seeding; the default ignores it."""

    def start(self, table: str, total: int) -> None:
        """A table's rows begin; ``total`` of them will come."""

    def advance(self, table: str, rows: int) -> None:
        """``rows`` more rows of ``table`` were written."""

    def note(self, text: str) -> None:
        """A step without rows to count begins."""


@dataclass(frozen=True)
class SeedResult:
    """What a seeding run wrote."""

    counts: dict[str, int]  # rows per data type, users included
    users_created: int
    media_objects_written: int
    seconds: float
    table_seconds: dict[str, float]  # generating and loading each table's rows


def messaging_row_counts() -> dict[str, int]:
    """Count the rows of every messaging table, tombstones included."""
    return {name: model.objects.count() for name, model in COUNTED.items()}


def seed_messaging(
    *, plan: SeedPlan, replace: bool = False, progress: Progress | None = None
) -> SeedResult:
    """Fill the empty messaging tables (emptied first with ``replace``) from ``plan``.

    Raises ``MessagingNotEmpty`` if they hold data and ``replace`` is false.
    """
    started = time.monotonic()
    progress = progress or Progress()
    connection = connections[DEFAULT_DB_ALIAS]
    writer = writer_for(connection)
    timeline = Timeline(plan.anchor)
    payloads = build_payloads(plan.seed)
    tables = [model._meta.db_table for model in (*SEEDED_MODELS, Tombstone)]
    with transaction.atomic():
        if replace:
            _refuse_if_referenced_elsewhere()
            writer.delete_all(tables)
        _refuse_if_not_empty()
        user_ids, created = ensure_users(
            count=plan.users, seed=plan.seed, timeline=timeline
        )
        context = gen.Context(plan, user_ids, timeline, payloads)
        with writer.loading(tables):
            switch_triggers(connection, on=False, tables=set(tables))
            counts, table_seconds = _write_rows(writer, context, progress)
            switch_triggers(connection, on=True, tables=set(tables))
            progress.note("Finishing: indexes, foreign keys, media bytes")
        used = [payloads[index] for index in sorted(context.used_payloads)]
        written = store_payloads(media_storage(), used)
        writer.finish(list(SEEDED_MODELS))
    seconds = time.monotonic() - started
    logger.info(
        "Seeded messaging data (seed %s, anchor %s): %s in %.1f s",
        plan.seed,
        plan.anchor,
        counts,
        seconds,
    )
    return SeedResult(
        {"users": len(user_ids), **counts}, created, written, seconds, table_seconds
    )


def _refuse_if_referenced_elsewhere() -> None:
    """Refuse to replace data that rows of other apps refer to (a legal hold)."""
    seeded = {*SEEDED_MODELS, Tombstone}
    for model in SEEDED_MODELS:
        for relation in model._meta.related_objects:
            other = relation.related_model
            if other in seeded or relation.many_to_many:
                continue
            if other._default_manager.filter(
                **{f"{relation.field.name}__isnull": False}
            ).exists():
                raise SeedError(
                    f"{other._meta.db_table} holds rows that refer to the "
                    "messaging data (for example a legal hold on a "
                    "conversation); remove them before replacing the data"
                )


def _refuse_if_not_empty() -> None:
    held = {name: count for name, count in messaging_row_counts().items() if count}
    if held:
        listed = ", ".join(
            f"{count} {name.replace('_', ' ')}" for name, count in held.items()
        )
        raise MessagingNotEmpty(
            f"messaging tables already hold data ({listed}); "
            "run with --replace to delete it first"
        )


def _write_rows(
    writer: Writer, context: gen.Context, progress: Progress
) -> tuple[dict[str, int], dict[str, float]]:
    """Generate and write every table, parents first."""
    shape = gen.build_conversations(context)
    attachments = messages.plan_attachments(context)
    plan = context.plan
    steps = (
        (
            "conversations",
            gen.CONVERSATIONS,
            plan.conversations,
            gen.conversation_rows(context, shape),
        ),
        (
            "participants",
            gen.PARTICIPANTS,
            sum(map(len, shape.members)),
            gen.participant_rows(context, shape),
        ),
        (
            "messages",
            gen.MESSAGES,
            plan.messages,
            messages.message_rows(context, shape, attachments),
        ),
        ("call_history", gen.CALLS, plan.calls, gen.call_rows(context, shape)),
        (
            "media_files",
            gen.MEDIA_FILES,
            plan.media,
            messages.media_rows(context, attachments),
        ),
    )
    counts, seconds = {}, {}
    for name, table, total, rows in steps:
        started = time.monotonic()
        progress.start(name, total)
        counts[name] = writer.write(
            table, gen.batched(rows), lambda _, n, name=name: progress.advance(name, n)
        )
        seconds[name] = round(time.monotonic() - started, 3)
    return counts, seconds
