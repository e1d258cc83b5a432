"""What every format writer gets: who, what, when, and the rows to write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backups.exports.source import RowSource, iso

FORMAT_VERSION = 1
GENERATOR = "TALOWA Admin"
SELECTION = {
    "sent": (
        "The messages you sent; the conversations you take part in, with your "
        "role (not other members' messages); the calls you made or received; the "
        "media files you shared, with their bytes."
    ),
    "conversations": (
        "Whole conversations you take part in: every message since you joined "
        "(other members' too, except those deleted for their readers; anonymous "
        "senders stay anonymous) and the media attached to them; the messages "
        "you sent in conversations you have left; the conversations, with your "
        "role; the calls you made or received; the media files you shared."
    ),
}


@dataclass
class ExportContext:
    """One export being written: its settings, its row source, what it found."""

    user: dict[str, Any]
    format: str
    data_types: tuple[str, ...]
    include_metadata: bool
    exported_at: datetime
    source: RowSource
    export_id: int | None = None
    backup_id: str | None = None
    missing_media: list[int] = field(default_factory=list)
    mismatched_media: list[int] = field(default_factory=list)

    @property
    def username(self) -> str:
        return self.user["username"]

    @property
    def scope(self) -> str:
        return self.source.scope

    def header(self) -> dict[str, Any]:
        """Return the fields every format opens with."""
        return {
            "format_version": FORMAT_VERSION,
            "user": self.user,
            "exported_at": iso(self.exported_at),
            "data_types": list(self.data_types),
            "scope": self.scope,
        }

    def metadata(self) -> dict[str, Any]:
        """Return the export's metadata section (once the rows are written)."""
        return {
            "generator": GENERATOR,
            "format": self.format,
            "format_version": FORMAT_VERSION,
            "export_id": self.export_id,
            "backup_id": self.backup_id,
            "time_zone": "UTC",
            "scope": self.scope,
            "selection": SELECTION[self.scope],
            "counts": dict(self.source.counts),
            "missing_media": list(self.missing_media),
            "fields": {
                name: {
                    f.name: {"type": f.kind, "description": f.description}
                    for f in self.source.fields(name)
                }
                for name in self.data_types
            },
        }

    def manifest_head(self) -> dict[str, Any]:
        """Return ``manifest.json``'s fields before its list of files."""
        return {
            "format": self.format,
            "format_version": FORMAT_VERSION,
            "generator": GENERATOR,
            "export_id": self.export_id,
            "backup_id": self.backup_id,
            "user": {"id": self.user["id"], "username": self.username},
            "exported_at": iso(self.exported_at),
            "data_types": list(self.data_types),
            "scope": self.scope,
            "include_metadata": self.include_metadata,
            "counts": dict(self.source.counts),
            "missing_media": list(self.missing_media),
            "mismatched_media": list(self.mismatched_media),
        }


def user_summary(user: Any) -> dict[str, Any]:
    """Return what an export says about its user's account."""
    return {
        "id": user.pk,
        "username": user.get_username(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined": iso(user.date_joined),
    }
