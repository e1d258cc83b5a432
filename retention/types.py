"""The brief's eight retention types and the rule that classifies every row.

Every row of the protected data belongs to exactly one type (docs/retention.md):

- a message by its ``kind``: regular, group, anonymous, system or voice;
- a call record by its ``status``: missed calls are ``missed_calls``,
  completed and rejected ones ``call_history``;
- a media file (its metadata row and, at purge, its bytes) is ``media_files``,
  whether or not it is attached to a message.

A row's age is measured from ``created_at`` (messages, media files) or from
``started_at`` (calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from talowa_admin.models import DEFAULT_RETENTION_PERIODS, MAX_RETENTION_DAYS

RETENTION_TYPES: tuple[str, ...] = (
    "regular_messages",
    "group_messages",
    "anonymous_messages",
    "system_messages",
    "voice_messages",
    "call_history",
    "missed_calls",
    "media_files",
)
RETENTION_TYPE_LABELS: dict[str, str] = {
    "regular_messages": "Direct messages",
    "group_messages": "Group messages",
    "anonymous_messages": "Anonymous messages",
    "system_messages": "System messages",
    "voice_messages": "Voice messages",
    "call_history": "Call history",
    "missed_calls": "Missed calls",
    "media_files": "Media files",
}
DEFAULT_PERIODS: dict[str, int] = {
    name: DEFAULT_RETENTION_PERIODS[name] for name in RETENTION_TYPES
}
MIN_DAYS = 1
MAX_DAYS = MAX_RETENTION_DAYS

MESSAGE = "message"
CALL = "call"
MEDIA = "media"


@dataclass(frozen=True)
class TypeRule:
    """Which rows of which table make up one retention type."""

    table: str  # MESSAGE, CALL or MEDIA
    column: str | None  # the classifying column, None for every row
    values: tuple[str, ...]
    age_column: str


TYPE_RULES: dict[str, TypeRule] = {
    "regular_messages": TypeRule(MESSAGE, "kind", ("regular",), "created_at"),
    "group_messages": TypeRule(MESSAGE, "kind", ("group",), "created_at"),
    "anonymous_messages": TypeRule(MESSAGE, "kind", ("anonymous",), "created_at"),
    "system_messages": TypeRule(MESSAGE, "kind", ("system",), "created_at"),
    "voice_messages": TypeRule(MESSAGE, "kind", ("voice",), "created_at"),
    "call_history": TypeRule(CALL, "status", ("completed", "rejected"), "started_at"),
    "missed_calls": TypeRule(CALL, "status", ("missed",), "started_at"),
    "media_files": TypeRule(MEDIA, None, (), "created_at"),
}

# Which backup data type holds each retention type (DESIGN's names).
BACKUP_DATA_TYPE: dict[str, str] = {
    **{name: "messages" for name in RETENTION_TYPES if name.endswith("_messages")},
    "call_history": "call_history",
    "missed_calls": "call_history",
    "media_files": "media_files",
}
