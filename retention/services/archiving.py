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
- An id is archived at most once: archiving a row again (it came back by a
  restore) replaces its copy in the older batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.utils import timezone

from messaging.models import CallRecord, MediaFile, Message
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
    """Return ``id`` membership as SQL for this engine (an array on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    return f"IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def archive_rows(table: str, ids: Sequence[int], *, batch_id: int) -> int:
    """Copy rows ``ids`` of ``table`` into the archive and delete them; return count.

    Call inside a transaction.
    """
    if not ids:
        return 0
    live = LIVE[table]._meta.db_table
    archive = ARCHIVE[table]._meta.db_table
    cols = ", ".join(_q(c) for c in columns(table))
    member, params = ids_condition(ids)
    with connection.cursor() as cursor:
        # A row restored (by a batch or a backup restore) and archived again:
        # its newer copy replaces the one in the older batch.
        cursor.execute(f"DELETE FROM {archive} WHERE id {member}", params)
        cursor.execute(
            f"INSERT INTO {archive} ({cols}, batch_id) "
            f"SELECT {cols}, %s FROM {live} WHERE id {member}",
            [batch_id, *params],
        )
        if table == MESSAGE:
            _detach_media(cursor, member, params, batch_id=batch_id)
        cursor.execute(f"DELETE FROM {live} WHERE id {member}", params)
        return cursor.rowcount


def _detach_media(cursor, member: str, params: list, *, batch_id: int) -> None:
    media = MediaFile._meta.db_table
    link = ArchivedMediaLink._meta.db_table
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
    select = ", ".join("%s" if c == "updated_at" else f"a.{_q(c)}" for c in names)
    member, params = ids_condition(ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {live} ({cols}) SELECT {select} FROM {archive} a "
            f"WHERE a.id {member} AND NOT EXISTS "
            f"(SELECT 1 FROM {live} l WHERE l.id = a.id)",
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
