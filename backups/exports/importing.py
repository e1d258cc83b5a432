"""Import a user's export (a JSON or NDJSON ZIP) into this deployment.

Why here: an export is written by this package (docs/export-format.md) and
read back by it; the import writes only the messaging data of one person,
like a user restore, and needs nothing from ``recovery``.

Conflict policy (docs/export-format.md, "Importing an export"):
- The export's ids are not kept: every row gets an id of this deployment
  (ids remapped); references inside the export (a message's conversation, a
  file's message) follow the new ids.
- A row is recognised by a natural key that does not depend on ids; a row
  that already exists is kept as it is, never changed, so importing the same
  export twice changes nothing:
  conversations: a conversation the user takes part in with the same kind,
  title and start time; messages: the user's message in that conversation
  with the same kind, time sent and text; calls: the same caller, callee and
  start time; media files: the user's file with the same SHA-256, name and
  time shared.
- Only the person's own data is imported: their messages (other members'
  messages, in a ``conversations``-scope export, belong to their senders and
  are skipped), their conversations with their role, their calls and their
  files. The other party of a call who has no account here gets an inactive
  account with that username and no password; the user named by ``--user``
  is created the same way, with the export's names and e-mail, if missing.

Invariants:
- The archive is checked whole (every file's size and SHA-256 against the
  manifest) before anything is written; a damaged one is refused in one line.
- The import is one transaction: complete, or nothing. A dry run rolls it back.
- Rows are read from the ZIP one line at a time (the formats keep one row
  per line); only the id maps of conversations and of the messages files are
  attached to are held in memory.
- Checksums (order-independent, over the fields that do not depend on ids or
  on this deployment's clock) are reported for the importable rows of the
  export and for the user's data here before and after: after an import they
  are equal.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils.dateparse import parse_datetime

from backups.exports.errors import ExportError
from backups.exports.source import RowSource
from messaging.models import CallRecord, Conversation, MediaFile, Message, Participant
from talowa_admin.audit import record_audit_event

IMPORTABLE_FORMATS = ("json", "ndjson")
DOCUMENTS = {"json": "export.json", "ndjson": "export.ndjson"}
ORDER = ("conversations", "messages", "call_history", "media_files")
PEOPLE = ("sender", "caller", "callee")  # fields holding a username
# The fields a checksum covers: not ids, paths or this deployment's stamps.
CHECKED = {
    "conversations": ("kind", "title", "role", "joined_at", "created_at"),
    "messages": (
        "sender",
        "kind",
        "body",
        "is_edited",
        "is_deleted",
        "created_at",
        "metadata",
    ),
    "call_history": (
        "direction",
        "caller",
        "callee",
        "media",
        "status",
        "started_at",
        "duration_seconds",
        "created_at",
    ),
    "media_files": ("name", "content_type", "size", "sha256", "created_at"),
}


class ImportRefused(ExportError):
    """An export cannot be imported; the message says why, in one line."""


class Checksum:
    """Count rows and combine their hashes in any order (a sum modulo 2**256)."""

    def __init__(self) -> None:
        self.rows, self._sum = 0, 0

    def add(self, record: dict[str, Any], fields: tuple[str, ...]) -> None:
        values = [_canonical(record.get(name)) for name in fields]
        line = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
        self._sum = (self._sum + int(hashlib.sha256(line).hexdigest(), 16)) % 2**256
        self.rows += 1

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": f"{self._sum:064x}"}


def _canonical(value: Any) -> Any:
    if isinstance(value, str) and value[:1] == "{":
        try:
            return json.loads(value)  # JSON text from the database: its value
        except ValueError:
            return value
    return value


class ExportReader:
    """A checked export archive whose rows can be read, a data type at a time."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest = json.loads(self.zip.read("manifest.json"))
            self.format = self.manifest.get("format")
            if self.format not in IMPORTABLE_FORMATS:
                raise ImportRefused(
                    f"{path}: a {self.format} export cannot be imported; use a "
                    "json or ndjson export"
                )
            self._check_files()
            self.document = DOCUMENTS[self.format]
            self.data_types = [t for t in ORDER if t in self.manifest["data_types"]]
            self.user = self._header()["user"]
        except (
            zipfile.BadZipFile,
            zlib.error,
            KeyError,
            TypeError,
            ValueError,
            OSError,
            EOFError,
        ) as exc:
            raise ImportRefused(f"{path}: not a readable export ({exc})") from exc

    def close(self) -> None:
        self.zip.close()

    def _check_files(self) -> None:
        self.files = listed = {e["path"]: e for e in self.manifest["files"]}
        extra = set(self.zip.namelist()) - set(listed) - {"manifest.json"}
        if extra:
            raise ValueError(f"{sorted(extra)[0]} is not in the manifest")
        for name, entry in listed.items():
            digest, size = hashlib.sha256(), 0
            with self.zip.open(name) as member:
                for block in iter(lambda m=member: m.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
            if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
                raise ValueError(f"{name} does not match its checksum")

    def _lines(self) -> Iterator[str]:
        with self.zip.open(self.document) as raw:
            yield from io.TextIOWrapper(raw, encoding="utf-8", newline="\n")

    def _header(self) -> dict[str, Any]:
        for line in self._lines():
            if self.format == "ndjson":
                return json.loads(line)["data"]
            if line.startswith('"user": '):
                return {"user": json.loads(line[len('"user": ') :].rstrip(",\n"))}
        raise ValueError(f"{self.document} has no header")

    def rows(self, data_type: str) -> Iterator[dict[str, Any]]:
        """Yield the export's rows of ``data_type`` as dictionaries."""
        if self.format == "ndjson":
            prefix = f'{{"type":"{data_type}",'
            for line in self._lines():
                if line.startswith(prefix):
                    yield json.loads(line)["data"]
            return
        inside = False
        for line in self._lines():
            if line == f'"{data_type}": [\n' or line == f',"{data_type}": [\n':
                inside = True
            elif inside and line.startswith("]"):
                return
            elif inside and line.startswith("{"):
                yield json.loads(line.rstrip().rstrip(","))


def import_export(
    path: Path, *, username: str, dry_run: bool = False, actor: Any = None
) -> dict[str, Any]:
    """Import the export at ``path`` as ``username``'s data; return what was done."""
    reader = ExportReader(path)
    try:
        source = _source_checksums(reader, username)
        with transaction.atomic():
            user, created = _account(username, reader.user)
            before = user_checksums(user, reader.data_types)
            importer = _Importer(reader, user, dry_run=dry_run)
            importer.run()
            after = user_checksums(user, reader.data_types)
            if dry_run:
                transaction.set_rollback(True)
    finally:
        reader.close()
    result = {
        "status": "dry_run" if dry_run else "completed",
        "user": username,
        "user_created": created,
        "export_user": reader.user.get("username"),
        "format": reader.format,
        "data_types": reader.data_types,
        "added": importer.added,
        "kept": importer.kept,
        "skipped": importer.skipped,
        "placeholder_accounts": importer.placeholders,
        "checksums": {"export": source, "before": before, "after": after},
        "equal": all(source[t] == after[t] for t in reader.data_types),
    }
    record_audit_event(
        actor=actor,
        action="export.import_dry_run" if dry_run else "export.import",
        target=user if not dry_run else None,
        details={k: result[k] for k in ("status", "user", "added", "kept", "skipped")},
    )
    return result


def _source_checksums(reader: ExportReader, username: str) -> dict[str, dict]:
    """Checksums of the export's rows that an import takes (the user's own),
    with the user named as here."""
    name = reader.user.get("username")
    found = {}
    for data_type in reader.data_types:
        checksum = Checksum()
        for row in reader.rows(data_type):
            if data_type == "messages" and row.get("sender") != name:
                continue
            if data_type == "media_files" and (
                row.get("path") is None
                or reader.files[row["path"]]["sha256"] != row["sha256"]
            ):
                continue
            renamed = {
                k: username if k in PEOPLE and v == name else v for k, v in row.items()
            }
            checksum.add(renamed, CHECKED[data_type])
        found[data_type] = checksum.as_json()
    return found


def user_checksums(user: Any, data_types: list[str]) -> dict[str, dict[str, Any]]:
    """Checksums of ``user``'s data here, in the export's shape (scope ``sent``)."""
    source = RowSource(user_id=user.pk, data_types=data_types, include_metadata=True)
    found = {}
    for data_type in data_types:
        checksum = Checksum()
        if data_type == "media_files":
            fields = [f.name for f in source.fields(data_type) if f.lookup is not None]
            rows = (o.values for o in source.media_objects())
        else:
            fields = list(source.columns(data_type))
            rows = source.rows(data_type)
        for row in rows:
            checksum.add(dict(zip(fields, row, strict=True)), CHECKED[data_type])
        found[data_type] = checksum.as_json()
    return found


def _account(username: str, exported: dict[str, Any]) -> tuple[Any, bool]:
    """The user to import for; created (inactive, no password) if missing."""
    users = get_user_model()
    existing = users.objects.filter(username=username).first()
    if existing is not None:
        return existing, False
    user = users(
        username=username,
        first_name=exported.get("first_name", ""),
        last_name=exported.get("last_name", ""),
        email=exported.get("email", ""),
        is_active=False,
    )
    user.set_unusable_password()
    user.save()
    return user, True


class _Importer:
    """Add the export's rows that this deployment lacks, remapping ids."""

    def __init__(self, reader: ExportReader, user: Any, *, dry_run: bool) -> None:
        self.reader, self.user, self.dry_run = reader, user, dry_run
        self.name = reader.user.get("username")
        self.conversations: dict[int, int] = {}
        self.messages: dict[int, int] = {}
        self.wanted_messages: set[int] = set()
        self.added = dict.fromkeys(reader.data_types, 0)
        self.kept = dict.fromkeys(reader.data_types, 0)
        self.skipped = dict.fromkeys(reader.data_types, 0)
        self.placeholders: list[str] = []

    def run(self) -> None:
        if "media_files" in self.reader.data_types:
            self.wanted_messages = {
                r["message_id"]
                for r in self.reader.rows("media_files")
                if r.get("message_id") is not None
            }
        for data_type in ORDER:
            if data_type in self.reader.data_types:
                step = getattr(self, f"_{data_type}")
                for row in self.reader.rows(data_type):
                    outcome = step(row)
                    getattr(self, outcome)[data_type] += 1

    def _conversations(self, row: dict) -> str:
        key = {
            "kind": row["kind"],
            "title": row["title"],
            "created_at": _time(row["created_at"]),
        }
        found = Conversation.objects.filter(participants__user=self.user, **key).first()
        outcome = "kept"
        if found is None:
            outcome = "added"
            found = Conversation.objects.create(**key)
            Participant.objects.create(
                conversation=found,
                user=self.user,
                role=row["role"],
                joined_at=_time(row["joined_at"]),
                created_at=_time(row["joined_at"]),
            )
        self.conversations[row["id"]] = found.pk
        return outcome

    def _messages(self, row: dict) -> str:
        local = self.conversations.get(row["conversation_id"])
        if row.get("sender") != self.name or local is None:
            return "skipped"  # another member's, or in a conversation not exported
        key = {
            "conversation_id": local,
            "sender": self.user,
            "kind": row["kind"],
            "created_at": _time(row["created_at"]),
            "body": row["body"],
        }
        found = Message.objects.filter(**key).first()
        outcome = "kept"
        if found is None:
            found = Message.objects.create(
                **key,
                metadata=row.get("metadata", {}),
                is_edited=row["is_edited"],
                is_deleted=row["is_deleted"],
            )
            outcome = "added"
        if row["id"] in self.wanted_messages:
            self.messages[row["id"]] = found.pk
        return outcome

    def _call_history(self, row: dict) -> str:
        key = {
            "caller": self._party(row["caller"]),
            "callee": self._party(row["callee"]),
            "started_at": _time(row["started_at"]),
        }
        if CallRecord.objects.filter(**key).exists():
            return "kept"
        CallRecord.objects.create(
            **key,
            conversation_id=self.conversations.get(row.get("conversation_id")),
            media=row["media"],
            status=row["status"],
            duration_seconds=row["duration_seconds"],
            created_at=_time(row["created_at"]),
        )
        return "added"

    def _party(self, username: str) -> Any:
        if username == self.name:
            return self.user
        users = get_user_model()
        found = users.objects.filter(username=username).first()
        if found is None:
            found = users(username=username, is_active=False)
            found.set_unusable_password()
            found.save()
            self.placeholders.append(username)
        return found

    def _media_files(self, row: dict) -> str:
        if row.get("path") is None:
            return "skipped"  # its bytes were missing when it was exported
        key = {
            "owner": self.user,
            "sha256": row["sha256"],
            "name": row["name"],
            "created_at": _time(row["created_at"]),
        }
        if MediaFile.objects.filter(**key).exists():
            return "kept"
        # The file was checked against the manifest; its bytes must be the row's.
        if self.reader.files[row["path"]]["sha256"] != row["sha256"]:
            return "skipped"  # exported as found, no longer the recorded file
        stored = f"{row['sha256'][:2]}/{row['sha256']}"
        media = storages["media"]
        if not self.dry_run and not media.exists(stored):
            with self.reader.zip.open(row["path"]) as member:
                media.save(stored, File(member))
        MediaFile.objects.create(
            **key,
            message_id=self.messages.get(row.get("message_id")),
            content_type=row["content_type"],
            size=row["size"],
            file=stored,
        )
        return "added"


def _time(text: str | None):
    return None if text is None else parse_datetime(text)
