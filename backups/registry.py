"""Which tables a backup carries, and how (STYLE: "a registry covers every table").

Every messaging model is either in ``TABLES`` or in ``EXCLUDED`` with a reason;
``tests/backups/test_registry.py`` fails when a new model is neither. A table's
columns and their value kinds come from the model, so a new field travels in
backups without code here.

Which rows belong to a user (user-scope backups, user restores and exports):
- ``messages``: the messages they sent;
- ``conversations``: the conversations they take part in, and their own
  participant rows (other members' rows stay theirs);
- ``call_history``: calls they made or received;
- ``media_files``: files they own, with their bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.apps import apps
from django.db import models

from backups.archive.rows import Kind
from backups.models import BACKUP_DATA_TYPES

ACCOUNTS_TABLE = "auth.user"
TOMBSTONE_TABLE = "messaging.tombstone"


@dataclass(frozen=True)
class TableSpec:
    """One table in a backup: its model, data type and user filter."""

    label: str
    data_type: str
    # SQL condition selecting one user's rows; ``%(user)s`` is the user's id.
    user_filter: str
    # SQL condition selecting the rows an incremental carries; ``%(since)s``
    # is the condition "the database's change stamp >= the parent's watermark"
    # on the ``updated_at`` column its triggers keep (messaging.triggers).
    changed_filter: str = "%(since)s"

    @cached_property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.label)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(field.column for field in self.model._meta.concrete_fields)

    @cached_property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(value_kind(f) for f in self.model._meta.concrete_fields)


_PARTICIPATES = (
    "id IN (SELECT conversation_id FROM messaging_participant WHERE user_id = %(user)s)"
)

# In dependency order: a table comes after the tables its foreign keys name.
TABLES: tuple[TableSpec, ...] = (
    TableSpec("messaging.conversation", "conversations", _PARTICIPATES),
    TableSpec("messaging.participant", "conversations", "user_id = %(user)s"),
    TableSpec("messaging.message", "messages", "sender_id = %(user)s"),
    TableSpec(
        "messaging.callrecord",
        "call_history",
        "(caller_id = %(user)s OR callee_id = %(user)s)",
    ),
    TableSpec("messaging.mediafile", "media_files", "owner_id = %(user)s"),
)

EXCLUDED: dict[str, str] = {
    TOMBSTONE_TABLE: (
        "deletions are not state: incrementals carry the tombstones written since "
        "their parent, in a section of their own"
    ),
    "messaging.accountchange": (
        "change stamps of accounts: incrementals read them to pick the accounts "
        "that changed; a restored database starts its next chain with a full"
    ),
}

# The accounts every messaging row points at. System backups carry them so a
# new, empty database can be restored; user restores never create accounts.
# ``auth_user`` has no change column: triggers stamp each change in
# ``messaging_accountchange``, and deleted accounts leave tombstones.
ACCOUNTS = TableSpec(
    ACCOUNTS_TABLE,
    "accounts",
    "id = %(user)s",
    changed_filter=(
        "id IN (SELECT user_id FROM messaging_accountchange WHERE %(since)s)"
    ),
)
TOMBSTONES = TableSpec(TOMBSTONE_TABLE, "tombstones", "owner_id = %(user)s")


def tables_for(data_types: list[str]) -> list[TableSpec]:
    """Return the tables that carry ``data_types``, in dependency order."""
    unknown = sorted(set(data_types) - set(BACKUP_DATA_TYPES))
    if unknown:
        raise ValueError(
            f"unknown data type(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BACKUP_DATA_TYPES)}"
        )
    return [spec for spec in TABLES if spec.data_type in data_types]


def spec_for(label: str) -> TableSpec:
    """Return the spec of a table by label (tables, accounts or tombstones)."""
    for spec in (*TABLES, ACCOUNTS, TOMBSTONES):
        if spec.label == label:
            return spec
    raise KeyError(label)


def value_kind(field: models.Field) -> Kind:
    """Map a Django field to the archive's value kind."""
    internal = field.get_internal_type()
    if field.is_relation or internal.endswith(("IntegerField", "AutoField")):
        return "int"
    if internal == "BooleanField":
        return "bool"
    if internal == "DateTimeField":
        return "timestamp"
    if internal == "JSONField":
        return "json"
    if internal in {
        "CharField",
        "TextField",
        "FileField",
        "EmailField",
        "SlugField",
        "GenericIPAddressField",
    }:
        return "text"
    raise TypeError(f"{field.model._meta.label}.{field.name}: {internal} not mapped")
