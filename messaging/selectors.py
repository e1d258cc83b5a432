"""Read-only queries over the messaging data."""

from __future__ import annotations

from django.db import connection

from messaging.models import CallRecord, MediaFile, Message, Participant


def user_data_counts(*, user) -> dict[str, int]:
    """Count what the platform holds about one user, per export data type.

    One statement of four counts: they head /me/ and /me/data/ on every
    load, and building four ORM queries took several times longer than the
    database took to answer them. The counts are those of
    ``Message.objects.filter(sender=user).count()``,
    ``Conversation.objects.filter(participants__user=user).count()`` (one
    participant row per conversation and user), calls the user made or took,
    and the media files they own.
    """
    q = connection.ops.quote_name

    def count(model, where: str) -> str:
        return f"(SELECT COUNT(*) FROM {q(model._meta.db_table)} WHERE {where})"

    def column(model, field: str) -> str:
        return q(model._meta.get_field(field).column) + " = %s"

    sql = "SELECT " + ", ".join(
        [
            count(Message, column(Message, "sender")),
            count(Participant, column(Participant, "user")),
            count(
                CallRecord,
                f"{column(CallRecord, 'caller')} OR {column(CallRecord, 'callee')}",
            ),
            count(MediaFile, column(MediaFile, "owner")),
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk] * 5)
        row = cursor.fetchone()
    names = ("messages", "conversations", "call_history", "media_files")
    return dict(zip(names, row, strict=True))
