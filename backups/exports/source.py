"""The rows of one user's export, streamed from the database.

Which rows (the privacy choice, see docs/export-format.md): the
conversations the user takes part in (with their own role), the calls they
made or received, and, by the export's ``scope``:

- ``sent`` (the default): the messages the user sent and the media files
  they own;
- ``conversations``: besides those, whole conversations as the user saw
  them, like Telegram's and WhatsApp's exports: every message of a
  conversation they take part in now, sent since they joined it, and the
  media attached to those messages. Never a conversation they are not in,
  never what was there before they joined, never another member's message
  deleted for its readers, and never the sender of another member's
  anonymous message.

Invariants:
- Every query is a ``values_list`` read with ``.iterator(chunk_size=...)``:
  no model instances, no table held in memory.
- A row is a list in the order of its data type's ``columns``; times are
  ISO 8601 strings in UTC with microseconds (``2026-11-26T07:20:38.000000+00:00``),
  JSON values are their JSON text, the rest as stored. PostgreSQL formats the
  times itself (``IsoTimestamp``: parsing them into datetimes only to format
  them again was a third of an export's time); elsewhere Python does.
- ``counts`` holds the rows actually handed out, so a manifest built from it
  describes exactly the files written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast

from backups.exports.spool import Spool
from messaging.models import CallRecord, Conversation, MediaFile, Message, Participant
from talowa_admin import progress

CHUNK_SIZE = 2000
PROGRESS_EVERY = 1000
# Beyond this many conversations a whole-conversations export stops naming
# them in its query (a parameter list that long would not pay, and SQLite
# limits a query's parameters).
MAX_LISTED_CONVERSATIONS = 5000

SCOPES = ("sent", "conversations")
DEFAULT_SCOPE = "sent"
SCOPE_LABELS = {
    "sent": "Only what I sent",
    "conversations": "Whole conversations I take part in (other members' messages too)",
}

Kind = Literal["int", "text", "bool", "time", "json"]


@dataclass(frozen=True)
class Field:
    """One exported column: its name, where it comes from and what it holds."""

    name: str
    kind: Kind
    description: str
    # ORM lookup or annotation; None when the export fills it in (media paths).
    source: str | None = ""
    metadata: bool = False  # only with include_metadata

    @property
    def lookup(self) -> str | None:
        return self.name if self.source == "" else self.source


@dataclass(frozen=True)
class DataTypeSpec:
    """One export data type: its fields and the query for one user's rows."""

    name: str
    fields: tuple[Field, ...]
    query: Callable[[int, str], QuerySet]  # (user id, scope) -> rows

    def fields_for(self, include_metadata: bool) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if include_metadata or not f.metadata)


def _messages(user_id: int, scope: str) -> QuerySet:
    seen = Q(sender_id=user_id)
    if scope == "conversations":
        seen |= Q(is_deleted=False) & Exists(_membership(user_id))
        # No index serves "sent by the user OR in one of their conversations":
        # naming the conversations lets the database read only theirs.
        candidates = _candidate_conversations(user_id)
        if len(candidates) <= MAX_LISTED_CONVERSATIONS:
            seen &= Q(conversation_id__in=candidates)
    return (
        Message.objects.filter(seen)
        .annotate(
            # Another member's anonymous message keeps its sender secret.
            sender_name=Case(
                When(
                    Q(kind=Message.Kind.ANONYMOUS) & ~Q(sender_id=user_id),
                    then=Value(None),
                ),
                default=F("sender__username"),
                output_field=CharField(),
            )
        )
        .order_by("conversation_id", "created_at", "id")
    )


def _membership(user_id: int) -> QuerySet:
    """The user's membership of a message's conversation, from before it was sent."""
    return Participant.objects.filter(
        conversation_id=OuterRef("conversation_id"),
        user_id=user_id,
        joined_at__lte=OuterRef("created_at"),
    )


def _candidate_conversations(user_id: int) -> list[int]:
    """Return the conversations the user is in or has sent a message to."""
    member = Participant.objects.filter(user_id=user_id).values_list(
        "conversation_id", flat=True
    )
    sent = (
        Message.objects.filter(sender_id=user_id)
        .order_by()
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    return sorted({*member, *sent})


def _conversations(user_id: int, scope: str) -> QuerySet:
    return Participant.objects.filter(user_id=user_id).order_by("conversation_id")


def _calls(user_id: int, scope: str) -> QuerySet:
    return (
        CallRecord.objects.filter(Q(caller_id=user_id) | Q(callee_id=user_id))
        .annotate(
            direction=Case(
                When(caller_id=user_id, then=Value("outgoing")),
                default=Value("incoming"),
                output_field=CharField(),
            )
        )
        .order_by("started_at", "id")
    )


def _media(user_id: int, scope: str) -> QuerySet:
    owned = Q(owner_id=user_id)
    if scope == "conversations":
        shown = _messages(user_id, scope).values("id")
        owned |= Q(message_id__in=shown)
    return MediaFile.objects.filter(owned).order_by("id")


UPDATED = "When the row last changed."
SENDER = "Who sent it (null: a system message, or another member's anonymous message)."
SPECS: dict[str, DataTypeSpec] = {
    "messages": DataTypeSpec(
        "messages",
        (
            Field("id", "int", "The message's id."),
            Field("conversation_id", "int", "The conversation it was sent in."),
            Field("sender", "text", SENDER, "sender_name"),
            Field("kind", "text", "regular, group, anonymous, system or voice."),
            Field("body", "text", "The text, exactly as sent."),
            Field("is_edited", "bool", "Whether it was edited after sending."),
            Field("is_deleted", "bool", "Whether it was deleted for its readers."),
            Field("created_at", "time", "When it was sent."),
            Field("updated_at", "time", UPDATED, metadata=True),
            Field("metadata", "json", "Client data (codec, ...).", metadata=True),
        ),
        _messages,
    ),
    "conversations": DataTypeSpec(
        "conversations",
        (
            Field("id", "int", "The conversation's id.", "conversation_id"),
            Field("kind", "text", "direct or group.", "conversation__kind"),
            Field("title", "text", "Its title (groups).", "conversation__title"),
            Field("role", "text", "Your role in it: member or admin."),
            Field("joined_at", "time", "When you joined it."),
            Field("created_at", "time", "When it began.", "conversation__created_at"),
            Field("updated_at", "time", UPDATED, "conversation__updated_at", True),
        ),
        _conversations,
    ),
    "call_history": DataTypeSpec(
        "call_history",
        (
            Field("id", "int", "The call's id."),
            Field("direction", "text", "outgoing (you called) or incoming."),
            Field("caller", "text", "Who called.", "caller__username"),
            Field("callee", "text", "Who was called.", "callee__username"),
            Field("conversation_id", "int", "The conversation it belongs to, if any."),
            Field("media", "text", "voice or video."),
            Field("status", "text", "completed, missed or rejected."),
            Field("started_at", "time", "When it started."),
            Field("duration_seconds", "int", "How long it lasted (completed calls)."),
            Field("created_at", "time", "When it was recorded."),
            Field("updated_at", "time", UPDATED, metadata=True),
        ),
        _calls,
    ),
    "media_files": DataTypeSpec(
        "media_files",
        (
            Field("id", "int", "The file's id."),
            Field("message_id", "int", "The message it was attached to, if any."),
            Field("name", "text", "Its name when it was shared."),
            Field("content_type", "text", "Its media type, such as image/png."),
            Field("size", "int", "Its size in bytes."),
            Field("sha256", "text", "The SHA-256 of its bytes, in hex."),
            Field("path", "text", "Where it is in this export (null: missing).", None),
            Field("created_at", "time", "When it was shared."),
            Field("updated_at", "time", UPDATED, metadata=True),
        ),
        _media,
    ),
}
# Model fields no export carries, and why. ``tests/backups/test_export_formats``
# fails when a messaging model gains a field that is neither exported nor here.
NOT_EXPORTED: dict[str, str] = {
    "messaging.conversation.created_by": "another member's account",
    "messaging.participant.id": "an internal row id (the conversation id names it)",
    "messaging.participant.user": "always the exporting user",
    "messaging.participant.created_at": "joined_at says when the user joined",
    "messaging.participant.updated_at": "the conversation's own times are exported",
    "messaging.mediafile.owner": "the exporting user, or the sender of the message",
    "messaging.mediafile.file": "the storage's internal name; path names the copy",
}
# Names the queries compute, with the model field each one shows.
COMPUTED: dict[str, str] = {
    "direction": "caller_id",
    "sender_name": "sender__username",
}
ATTACHMENT_FIELDS = (
    Field("conversation_id", "int", "", "message__conversation_id"),
    Field("created_at", "time", "", "message__created_at"),
    Field("message_id", "int", ""),
    Field("id", "int", ""),
    Field("name", "text", ""),
    Field("content_type", "text", ""),
)


def iso(value: datetime | None) -> str | None:
    """Return an aware datetime as ISO 8601 in UTC, with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class IsoTimestamp(Func):
    """A timestamptz as ``iso()`` would write it, formatted by PostgreSQL."""

    template = (
        "to_char(%(expressions)s AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
    )
    output_field = CharField()


def _select(
    fields: Sequence[Field], *, vendor: str
) -> tuple[list[str], dict[str, Func], list[int]]:
    """Return what to select for ``fields``, with the annotations it needs.

    JSON values are selected as their JSON text. The third item lists the
    positions of times that Python must format: none on PostgreSQL, which
    formats them itself.
    """
    annotations: dict[str, Func] = {}
    names, times = [], []
    for i, f in enumerate(fields):
        if f.kind == "json":
            annotations[f"_json_{i}"] = Cast(F(f.lookup), TextField())
            names.append(f"_json_{i}")
        elif f.kind == "time" and vendor == "postgresql":
            annotations[f"_iso_{i}"] = IsoTimestamp(F(f.lookup))
            names.append(f"_iso_{i}")
        else:
            names.append(f.lookup)
            if f.kind == "time":
                times.append(i)
    return names, annotations, times


class Progress:
    """Receives how many rows and files were written.

    The default tells a command watching on a terminal (``talowa_admin.progress``).
    """

    def advance(self, done: int) -> None:
        """``done`` more rows or files were written."""
        progress.advance(rows=done)


@dataclass
class MediaObject:
    """A media row about to be copied: its values without ``path``, its bytes."""

    values: list[Any]
    storage_name: str
    size: int
    sha256: str
    name: str
    content_type: str


class RowSource:
    """Stream one user's rows, per data type, counting what it hands out."""

    def __init__(
        self,
        *,
        user_id: int,
        data_types: Sequence[str],
        include_metadata: bool,
        scope: str = DEFAULT_SCOPE,
        progress: Progress | None = None,
    ) -> None:
        self.user_id = user_id
        self.data_types = tuple(data_types)
        self.include_metadata = include_metadata
        self.scope = scope
        self.progress = progress or Progress()
        self.counts = dict.fromkeys(self.data_types, 0)
        # The media pass replaces the database as the source of media rows,
        # so the rows describe exactly the bytes copied (paths, missing files).
        self.media_rows: Spool | None = None

    def fields(self, data_type: str) -> tuple[Field, ...]:
        return SPECS[data_type].fields_for(self.include_metadata)

    def columns(self, data_type: str) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields(data_type))

    def rows(self, data_type: str) -> Iterator[list[Any]]:
        """Yield the user's rows of ``data_type`` (once per export)."""
        if data_type == "media_files" and self.media_rows is not None:
            rows: Iterator[list[Any]] = iter(self.media_rows)
        else:
            rows = self._query_rows(data_type)
        done = 0
        for row in rows:
            done += 1
            if done % PROGRESS_EVERY == 0:
                self.progress.advance(PROGRESS_EVERY)
            yield row
        self.progress.advance(done % PROGRESS_EVERY)
        self.counts[data_type] = done

    def media_objects(self) -> Iterator[MediaObject]:
        """Yield the user's media rows with what copying their bytes needs."""
        fields = [f for f in self.fields("media_files") if f.lookup is not None]
        extra = ("file", "size", "sha256", "name", "content_type")
        for row in self._values(self._query("media_files"), fields, extra):
            yield MediaObject(row[: len(fields)], *row[len(fields) :])

    def attachments(self) -> Iterator[list[Any]]:
        """Yield media attached to the exported messages, in the messages' order.

        Rows are ``[conversation_id, message created_at, message_id, media id,
        name, content_type]``: the first three are the message's sort key, so
        a reader walks them in step with ``rows("messages")``.
        """
        query = (
            self._query("media_files")
            .filter(message_id__in=self._query("messages").values("id"))
            .order_by(
                "message__conversation_id", "message__created_at", "message_id", "id"
            )
        )
        return self._values(query, ATTACHMENT_FIELDS, ())

    def _query(self, data_type: str) -> QuerySet:
        return SPECS[data_type].query(self.user_id, self.scope)

    def _query_rows(self, data_type: str) -> Iterator[list[Any]]:
        return self._values(self._query(data_type), self.fields(data_type), ())

    @staticmethod
    def _values(
        query: QuerySet, fields: Sequence[Field], extra: Sequence[str]
    ) -> Iterator[list[Any]]:
        names, annotations, times = _select(fields, vendor=connections[query.db].vendor)
        rows = query.annotate(**annotations).values_list(*names, *extra)
        for row in rows.iterator(chunk_size=CHUNK_SIZE):
            values = list(row)
            for i in times:
                values[i] = iso(values[i])
            yield values


def conversation_titles(conversation_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Return ``{id: (kind, title)}`` for some conversations."""
    rows = Conversation.objects.filter(pk__in=conversation_ids).values_list(
        "id", "kind", "title"
    )
    return {pk: (kind, title) for pk, kind, title in rows}


def estimated_total(
    *, user_id: int, data_types: Sequence[str], scope: str = DEFAULT_SCOPE
) -> int:
    """Count the rows (and media files) an export will write, for progress."""
    total = 0
    for name in data_types:
        count = SPECS[name].query(user_id, scope).order_by().count()
        total += 2 * count if name == "media_files" else count
    return total
