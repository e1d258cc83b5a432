"""Move rows between the live tables and the archive tables, one batch at a time.

Invariants (after Zulip's ``zerver/lib/retention.py``):
- A row is copied into its archive table and deleted from the live table in
  the same short transaction, so at every instant it is in exactly one of
  them; a worker killed between batches leaves finished batches archived and
  the rest untouched.
- Deleting a live row fires the messaging delete trigger, which writes its
  tombstone, so the next incremental backup carries the deletion.
- Live media files that point at an archived message are detached (their
  link is kept in ``ArchivedMediaLink``) so that the message can go; a batch
  restore links them again.
- Restoring puts every column back as it was, except ``updated_at``, set to
  the restore time so the next incremental backup carries the row again
  (its tombstone is older).
- No statement locks a whole table; rows are addressed by primary key.
- On PostgreSQL a batch commits without waiting for the disk
  (``synchronous_commit`` off for that transaction only): a crash may lose
  the newest batches as a whole, never part of one, and a rerun redoes them.
- An id is archived at most once: archiving a row again (it came back by a
  restore) replaces its copy in the older batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from messaging.models import CallRecord, MediaFile, Message
from messaging.triggers import TRACKED_TABLES
from retention.models import (
    ArchivedCallRecord,
    ArchivedMediaFile,
    ArchivedMediaLink,
    ArchivedMessage,
)
from retention.types import CALL, MEDIA, MESSAGE

LIVE = {MESSAGE: Message, CALL: CallRecord, MEDIA: MediaFile}
ARCHIVE = {MESSAGE: ArchivedMessage, CALL: ArchivedCallRecord, MEDIA: ArchivedMediaFile}


def columns(table: str) -> list[str]:
    """Return the columns shared by a live table and its archive table."""
    return [f.column for f in LIVE[table]._meta.concrete_fields]


def ids_condition(ids: Sequence[int]) -> tuple[str, list]:
    """Return ``id`` membership as SQL for this engine (an array on PostgreSQL).

    The array goes as one text literal: a list of ints is adapted item by
    item in Python, which costs more than the database's work on it.
    """
    if connection.vendor == "postgresql":
        return "= ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]
    return f"IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def archive_rows(
    table: str, ids: Sequence[int], *, batch_id: int, bypass: bool | None = None
) -> int:
    """Copy rows ``ids`` of ``table`` into the archive and delete them; return count.

    Call inside a transaction. On PostgreSQL one statement moves the rows
    (``DELETE ... RETURNING`` feeding the archive's ``INSERT``); elsewhere a
    copy and a delete. A row archived before (it came back by a restore)
    replaces its copy in the older batch. ``bypass`` (PostgreSQL; None: when
    this connection may, ``may_bypass_triggers``) runs the batch with the
    row triggers switched off and writes their effects itself.
    """
    if not ids:
        return 0
    names = columns(table)
    member, params = ids_condition(ids)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if bypass is None:
                bypass = may_bypass_triggers()
            moved = _archive_postgresql(cursor, table, names, params, batch_id, bypass)
        else:
            moved = _archive_sqlite(cursor, table, names, member, params, batch_id)
        if table == MESSAGE:
            _detach_media(cursor, member, params, batch_id=batch_id)
        if bypass and connection.vendor == "postgresql":
            # SET LOCAL lasts until the outermost transaction ends: a caller's
            # enclosing transaction must get its triggers back at once.
            cursor.execute("SET LOCAL session_replication_role TO origin")
    return moved


def may_bypass_triggers() -> bool:
    """Tell whether this PostgreSQL connection may switch off its row triggers.

    ``session_replication_role`` is a superuser setting; from PostgreSQL 15 an
    administrator can grant it to the application's role
    (``GRANT SET ON PARAMETER session_replication_role TO ...``).
    """
    allowed = (
        "has_parameter_privilege('session_replication_role', 'SET')"
        if connection.pg_version >= 150000
        else "current_setting('is_superuser') = 'on'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {allowed} AND current_setting('session_replication_role') "
            "= 'origin'"
        )
        return bool(cursor.fetchone()[0])


def _upsert(names: list[str]) -> str:
    return "ON CONFLICT (id) DO UPDATE SET " + ", ".join(
        f"{_q(c)} = excluded.{_q(c)}" for c in [*names, "batch_id"] if c != "id"
    )


def _archive_postgresql(cursor, table, names, params, batch_id, bypass) -> int:
    """Move the rows in one statement; return how many moved.

    The commit does not wait for the disk (``synchronous_commit`` off for this
    transaction only): a crash can lose only whole, newest batches, and a
    lost batch is lost as a whole, its delete with its archive copy, so its
    rows are still live and the next run archives them again.

    With ``bypass`` the batch's statements run with ``session_replication_role``
    ``replica``, which switches off every trigger but ``ENABLE ALWAYS`` ones,
    foreign-key checks included (``archive_rows`` sets it back to ``origin``
    after them). What they would do is done here instead, set-based:
    - the messaging tombstone trigger: the statement writes the tombstones
      of the rows it deletes (``TRACKED_TABLES`` names model and owner);
    - the foreign-key check of ``messaging_mediafile.message_id`` (one probe
      per deleted message, deferred to the commit, a third of the time of a
      batch): the caller detaches every media row that names a moved
      message in the next statement (``_detach_media``), after the delete
      holds the row locks. A transaction that attached a media row to one of
      them either committed before the delete could lock the message (the
      detach's newer snapshot then sees its row) or waits for our commit and
      then fails its own foreign-key check, as with the trigger;
    - the stamp trigger of the detached media rows: ``updated_at = now()``.
    The archive tables have no triggers and no foreign keys.
    """
    live = LIVE[table]._meta.db_table
    archive = ARCHIVE[table]._meta.db_table
    cols = ", ".join(_q(c) for c in names)
    setup = "SET LOCAL synchronous_commit TO OFF"
    tombstones, extra = "", []
    if bypass:
        setup += "; SET LOCAL session_replication_role TO replica"
        label, owner = TRACKED_TABLES[live]
        tombstones = (
            ", tombstones AS (INSERT INTO messaging_tombstone "
            "(model, object_id, owner_id, deleted_at) "
            f"SELECT %s, id, {_q(owner)}, now() FROM moved)"
        )
        extra = [label]
    cursor.execute(setup)
    # An older copy of a row archived again goes first: cheaper than an
    # ON CONFLICT on every row (a speculative insertion, and one more WAL
    # record each) for the rare row that came back.
    cursor.execute(f"DELETE FROM {archive} WHERE id = ANY(%s::bigint[])", params)
    cursor.execute(
        f"WITH moved AS (DELETE FROM {live} WHERE id = ANY(%s::bigint[]) "
        f"RETURNING {cols}){tombstones} INSERT INTO {archive} ({cols}, batch_id) "
        f"SELECT {cols}, %s FROM moved",
        [*params, *extra, batch_id],
    )
    return cursor.rowcount


def _archive_sqlite(cursor, table, names, member, params, batch_id) -> int:
    live = LIVE[table]._meta.db_table
    archive = ARCHIVE[table]._meta.db_table
    cols = ", ".join(_q(c) for c in names)
    cursor.execute(
        f"INSERT INTO {archive} ({cols}, batch_id) "
        f"SELECT {cols}, %s FROM {live} WHERE id {member} {_upsert(names)}",
        [batch_id, *params],
    )
    cursor.execute(f"DELETE FROM {live} WHERE id {member}", params)
    return cursor.rowcount


def _detach_media(cursor, member: str, params: list, *, batch_id: int) -> None:
    """Unlink live media from archived messages; remember the links.

    Runs after the messages' delete (see ``_archive_postgresql``).
    """
    media = MediaFile._meta.db_table
    link = ArchivedMediaLink._meta.db_table
    if connection.vendor == "postgresql":
        cursor.execute(
            f"WITH old AS (SELECT id, message_id FROM {media} "
            f"WHERE message_id {member}), detached AS (UPDATE {media} m "
            "SET message_id = NULL, updated_at = now() FROM old "
            "WHERE m.id = old.id RETURNING old.id, old.message_id) "
            f"INSERT INTO {link} (batch_id, media_id, message_id) "
            "SELECT %s, id, message_id FROM detached",
            [*params, batch_id],
        )
        return
    cursor.execute(
        f"INSERT INTO {link} (batch_id, media_id, message_id) "
        f"SELECT %s, id, message_id FROM {media} WHERE message_id {member}",
        [batch_id, *params],
    )
    if cursor.rowcount:
        cursor.execute(
            f"UPDATE {media} SET message_id = NULL, updated_at = %s "
            f"WHERE message_id {member}",
            [_now_param(), *params],
        )


def _now_param():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def archived_ids(table: str, *, batch_id: int, after: int, limit: int) -> list[int]:
    """Return the next ``limit`` archived ids of ``table`` in ``batch_id``."""
    return list(
        ARCHIVE[table]
        .objects.filter(batch_id=batch_id, id__gt=after)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def restore_rows(table: str, ids: Sequence[int]) -> int:
    """Put archived rows ``ids`` back into the live table; return how many.

    Rows whose id is live again (nothing should create one) are left in the
    archive rather than overwrite live data. Call inside a transaction.
    """
    live = LIVE[table]._meta.db_table
    archive = ARCHIVE[table]._meta.db_table
    names = columns(table)
    cols = ", ".join(_q(c) for c in names)
    select = ", ".join(
        "%s AS updated_at" if c == "updated_at" else _q(c) for c in names
    )
    member, params = ids_condition(ids)
    free = f"NOT EXISTS (SELECT 1 FROM {live} l WHERE l.id = {archive}.id)"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")  # as above
            cursor.execute(
                f"WITH back AS (DELETE FROM {archive} WHERE id {member} AND {free} "
                f"RETURNING {cols}) INSERT INTO {live} ({cols}) "
                f"SELECT {select} FROM back",
                [*params, _now_param()],
            )
            return cursor.rowcount
        cursor.execute(
            f"INSERT INTO {live} ({cols}) SELECT {select} FROM {archive} "
            f"WHERE id {member} AND {free}",
            [_now_param(), *params],
        )
        restored = cursor.rowcount
        cursor.execute(
            f"DELETE FROM {archive} WHERE id {member} AND EXISTS "
            f"(SELECT 1 FROM {live} l WHERE l.id = {archive}.id)",
            params,
        )
    return restored


def relink_media(*, batch_id: int) -> int:
    """Point live media files back at the restored messages of ``batch_id``."""
    media = MediaFile._meta.db_table
    link = ArchivedMediaLink._meta.db_table
    message = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {media} SET message_id = (SELECT k.message_id FROM {link} k "
            f"WHERE k.batch_id = %s AND k.media_id = {media}.id), updated_at = %s "
            f"WHERE message_id IS NULL AND id IN (SELECT k.media_id FROM {link} k "
            f"JOIN {message} m ON m.id = k.message_id WHERE k.batch_id = %s)",
            [batch_id, _now_param(), batch_id],
        )
        relinked = cursor.rowcount
        cursor.execute(f"DELETE FROM {link} WHERE batch_id = %s", [batch_id])
    return relinked


def purge_rows(table: str, ids: Sequence[int]) -> int:
    """Delete archived rows for good; return how many. Call inside a transaction."""
    member, params = ids_condition(ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {ARCHIVE[table]._meta.db_table} WHERE id {member}", params
        )
        return cursor.rowcount
