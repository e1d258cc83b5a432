"""Apply a backup chain: to the live tables, inside the caller's transaction,
or, for a system restore on PostgreSQL, to staged tables the caller swaps in.

The full backup replaces the scope's rows; each incremental then replaces the
rows it carries and deletes what its tombstones name. Accounts are added,
never changed or removed: a system restore adds each account the database
lacks, as the newest archive of the chain has it (unless a tombstone of the
chain deleted it); accounts the database already has stay as they are.

For a user restore from a system backup, rows are filtered to the user's
(backups/registry.py says which rows belong to a user). Conversations are
shared: a user restore only adds the user's conversations that are missing,
never changes or removes one.
Media bytes are written to the media storage by SHA-256 name; content-
addressed, so a rolled-back restore leaves at most unused, correct files.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection

from backups.archive import ArchiveSection
from backups.archive.rows import iter_lines
from backups.models import Backup
from backups.registry import ACCOUNTS, TOMBSTONE_TABLE, TableSpec, spec_for
from backups.services.verifying import open_archive
from backups.storage import object_store
from recovery.loaders import (
    RestoreConflict,
    RowLoader,
    TableTally,
    advance_sequences,
    check_columns,
    check_foreign_keys,
)
from recovery.staging import StagedTables

logger = logging.getLogger(__name__)

CONVERSATION = "messaging.conversation"
# Column tested against the user's id for each table, in a system archive.
OWNER_COLUMNS = {
    "messaging.participant": ("user_id",),
    "messaging.message": ("sender_id",),
    "messaging.callrecord": ("caller_id", "callee_id"),
    "messaging.mediafile": ("owner_id",),
    TOMBSTONE_TABLE: ("owner_id",),
}


@dataclass
class ApplyPlan:
    chain: list[Backup]
    specs: list[TableSpec]
    user_id: int | None
    dry_run: bool = False

    @property
    def labels(self) -> set[str]:
        return {s.label for s in self.specs}

    @property
    def written_specs(self) -> list[TableSpec]:
        """The tables the restore writes: a system restore adds accounts too."""
        return [ACCOUNTS, *self.specs] if self.user_id is None else list(self.specs)

    def where(self, spec: TableSpec) -> str:
        if self.user_id is None:
            return ""
        return spec.user_filter % {"user": int(self.user_id)}


@dataclass
class MediaTally:
    written: int = 0
    present: int = 0
    mismatched: list[str] = field(default_factory=list)


@dataclass
class Applier:
    plan: ApplyPlan
    keyring: Any
    rows: RowLoader = field(default_factory=RowLoader)
    # A system restore on PostgreSQL loads into staged tables (entered by the
    # caller, who swaps them in): rows then go through the staging connection.
    staging: StagedTables | None = None
    media: MediaTally = field(default_factory=MediaTally)
    needed_blobs: set[str] = field(default_factory=set)
    conversation_ids: set[int] = field(default_factory=set)
    # Ids each table received from the current incremental: a row in the
    # snapshot exists, whatever a tombstone in the same window says.
    upserted: dict[str, set[int]] = field(default_factory=dict)
    # Accounts the database had before the restore: never changed or removed.
    kept_accounts: set[int] = field(default_factory=set)

    def run(self) -> dict[str, TableTally]:
        """Clear the scope, apply every archive of the chain, check references."""
        if self.staging is not None:  # staged tables start empty
            self.rows.db = self.staging.db
        else:
            if self.plan.user_id is None:
                self.kept_accounts = _account_ids(self.rows.db)
            self._clear()
        for position, backup in enumerate(self.plan.chain):
            self._apply_archive(backup, first=position == 0)
        if self.staging is not None:
            self.staging.finish()
        else:
            check_foreign_keys(self.rows.db)
            advance_sequences(self.plan.specs, db=self.rows.db)
        return self.rows.tallies

    def _clear(self) -> None:
        plan = self.plan
        for spec in reversed(plan.specs):
            if plan.user_id is not None and spec.label == CONVERSATION:
                continue  # shared: never removed by a user restore
            self.rows.clear(spec, plan.where(spec))

    def _apply_archive(self, backup: Backup, *, first: bool) -> None:
        store = object_store(backup.storage)
        filtered = self.plan.user_id is not None and backup.scope == "system"
        self.upserted = {}
        held = None  # a system archive's conversations, until we know the user's
        with open_archive(store, backup.object_key, keyring=self.keyring) as (
            reader,
            _counted,
        ):
            for section in reader.sections():
                kind, _, name = section.name.partition(":")
                if kind == "blob":
                    self._blob(section)
                elif name == CONVERSATION and filtered:
                    held = _spool(section)
                elif kind == "table":
                    self._table(section, name, first=first, filtered=filtered)
                else:
                    section.skip()
        if held is not None:
            self._held_conversations(held, backup, first=first)
        if first and self.staging is not None:
            self.staging.finish_indexes()

    def _table(
        self, section: ArchiveSection, label: str, *, first: bool, filtered: bool
    ) -> None:
        plan = self.plan
        if label == TOMBSTONE_TABLE:
            return self._tombstones(section, filtered=filtered)
        if label == ACCOUNTS.label:
            if plan.user_id is None:
                return self._accounts(section, first=first)
            return section.skip()
        if label not in plan.labels:
            return section.skip()
        spec = spec_for(label)
        columns = section.meta["columns"]
        check_columns(spec, columns)
        if first and self.staging is not None:
            # The archive's bytes are COPY text already: the server parses them,
            # and the rows it took must be the rows the backup recorded.
            loaded = self.staging.load(spec, columns, section.iter_data())
            recorded = section.summary.rows if section.summary else None
            if recorded is not None and loaded != recorded:
                raise RestoreConflict(
                    f"the database read {loaded} {label} rows where the backup "
                    f"recorded {recorded}"
                )
            return None
        lines = self._lines(section, spec, columns, filtered=filtered)
        if not first:
            lines = _recording_ids(lines, self.upserted.setdefault(label, set()))
        shared = plan.user_id is not None and label == CONVERSATION
        self.rows.load(
            spec, columns, lines, replace=not first and not shared, keep_existing=shared
        )
        return None

    def _lines(
        self,
        section: ArchiveSection,
        spec: TableSpec,
        columns: list[str],
        *,
        filtered: bool,
    ) -> Iterator[bytes]:
        lines = iter_lines(section.iter_data())
        if self.plan.user_id is None:
            return lines
        if filtered:
            lines = _owned_by(
                lines, columns, OWNER_COLUMNS[spec.label], self.plan.user_id
            )
        return self._observe(lines, spec, columns)

    def _observe(
        self, lines: Iterable[bytes], spec: TableSpec, columns: list[str]
    ) -> Iterator[bytes]:
        """Note the conversations and media a user restore will need."""
        watch = {
            "messaging.participant": "conversation_id",
            "messaging.message": "conversation_id",
            "messaging.mediafile": "sha256",
        }.get(spec.label)
        if watch is None:
            yield from lines
            return
        index = columns.index(watch)
        for line in lines:
            value = line.split(b"\t")[index]
            if watch == "sha256":
                self.needed_blobs.add(value.decode())
            elif value != b"\\N":
                self.conversation_ids.add(int(value))
            yield line

    def _held_conversations(self, held, backup: Backup, *, first: bool) -> None:
        spec = spec_for(CONVERSATION)
        columns = held.columns
        wanted = self.conversation_ids

        def lines() -> Iterator[bytes]:
            for line in iter_lines(iter(lambda: held.file.read(1 << 20), b"")):
                if int(line.split(b"\t", 1)[0]) in wanted:
                    yield line

        if CONVERSATION in self.plan.labels:
            self.rows.load(spec, columns, lines(), replace=False, keep_existing=True)
        held.file.close()

    def _accounts(self, section: ArchiveSection, *, first: bool) -> None:
        columns = section.meta["columns"]
        check_columns(ACCOUNTS, columns)
        kept = self.kept_accounts
        lines = (
            line
            for line in iter_lines(section.iter_data())
            if int(line.split(b"\t", 1)[0]) not in kept
        )
        if not first:
            seen = self.upserted.setdefault(ACCOUNTS.label, set())
            lines = _recording_ids(lines, seen)
        # A later archive's account replaces an earlier one's.
        self.rows.load(ACCOUNTS, columns, lines, replace=not first, keep_existing=first)

    def _tombstones(self, section: ArchiveSection, *, filtered: bool) -> None:
        columns = section.meta["columns"]
        model_at, id_at, owner_at = (
            columns.index(c) for c in ("model", "object_id", "owner_id")
        )
        doomed: dict[str, list[int]] = {}
        user = str(self.plan.user_id).encode() if filtered else None
        labels = {spec.label for spec in self.plan.written_specs}
        for line in iter_lines(section.iter_data()):
            fields = line.split(b"\t")
            label = fields[model_at].decode()
            if label not in labels:
                continue
            if self.plan.user_id is not None and label == CONVERSATION:
                continue
            if user is not None and fields[owner_at] != user:
                continue
            row_id = int(fields[id_at])
            if label == ACCOUNTS.label and row_id in self.kept_accounts:
                continue
            if row_id not in self.upserted.get(label, ()):
                doomed.setdefault(label, []).append(row_id)
        for label, ids in doomed.items():
            self.rows.delete_ids(spec_for(label), ids)

    def _blob(self, section: ArchiveSection) -> None:
        sha256 = section.meta["sha256"]
        wanted = "media_files" in {s.data_type for s in self.plan.specs} and (
            self.plan.user_id is None or sha256 in self.needed_blobs
        )
        if not wanted:
            section.skip()
            return
        data = section.read_all()
        if hashlib.sha256(data).hexdigest() != sha256:
            self.media.mismatched.append(sha256)
            return
        media = storages["media"]
        name = section.meta["name"]
        if media.exists(name):
            with media.open(name, "rb") as current:
                if hashlib.sha256(current.read()).hexdigest() == sha256:
                    self.media.present += 1
                    return
            if not self.plan.dry_run:
                media.delete(name)
        if not self.plan.dry_run:
            media.save(name, ContentFile(data))
        self.media.written += 1


@dataclass
class _Held:
    file: Any
    columns: list[str]


def _spool(section: ArchiveSection) -> _Held:
    spooled = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115
    for piece in section.iter_data():
        spooled.write(piece)
    spooled.seek(0)
    return _Held(spooled, section.meta["columns"])


def _owned_by(
    lines: Iterable[bytes], columns: list[str], owner_columns: tuple, user_id: int
) -> Iterator[bytes]:
    positions = [columns.index(c) for c in owner_columns]
    user = str(user_id).encode()
    for line in lines:
        fields = line.split(b"\t")
        if any(fields[p] == user for p in positions):
            yield line


def _account_ids(db: Any = connection) -> set[int]:
    """Return the ids of the accounts in ``db``, the database restored into."""
    with db.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {ACCOUNTS.table}")
        return {row[0] for row in cursor.fetchall()}


def _recording_ids(lines: Iterable[bytes], seen: set[int]) -> Iterator[bytes]:
    for line in lines:
        seen.add(int(line.split(b"\t", 1)[0]))
        yield line
