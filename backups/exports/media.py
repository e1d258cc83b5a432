"""Copy a user's media bytes into the export, before any format writes rows.

Invariants:
- Media rows reach the format writers from this pass (through a spool on
  disk), not from a second query, so every ``path`` names a file that is in
  the archive and a file missing from storage has ``path`` null and is listed
  in the manifest's ``missing_media``.
- Bytes are copied in chunks; the manifest records the SHA-256 of what was
  copied, and a file whose bytes no longer match its row is listed in
  ``mismatched_media``.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from django.core.files.storage import storages

from backups.exports.container import ExportArchive
from backups.exports.context import ExportContext
from backups.exports.spool import Spool

logger = logging.getLogger(__name__)

MEDIA_DIR = "media"
MAX_NAME_BYTES = 120
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def media_path(media_id: int, name: str) -> str:
    """Return the archive path of a media file: ``media/<id>-<safe name>``."""
    clean = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    stem, dot, extension = clean.rpartition(".")
    if not dot or len(extension) > 10:
        stem, extension = clean, ""
    budget = MAX_NAME_BYTES - len(extension.encode()) - 1
    stem = stem.encode()[:budget].decode(errors="ignore").strip(" .")
    clean = f"{stem}.{extension}" if extension else stem
    return f"{MEDIA_DIR}/{media_id}-{clean or 'file'}"


def copy_media(archive: ExportArchive, context: ExportContext) -> None:
    """Copy every media file of the user and hand its rows on to the writers."""
    source = context.source
    columns = source.columns("media_files")
    at = columns.index("path")
    storage = storages["media"]
    spool = Spool()
    for media in source.media_objects():
        media_id = media.values[0]
        path: str | None = media_path(media_id, media.name)
        try:
            handle = storage.open(media.storage_name, "rb")
        except FileNotFoundError:
            context.missing_media.append(media_id)
            path = None
        else:
            with handle:
                size, sha256 = archive.copy(
                    path, handle, size=media.size, content_type=media.content_type
                )
            if (size, sha256) != (media.size, media.sha256):
                context.mismatched_media.append(media_id)
        spool.append([*media.values[:at], path, *media.values[at:]])
        source.progress.advance(1)
    source.media_rows = spool
    if context.missing_media:
        logger.warning(
            "export of user %s: %d media files are missing from storage (ids %s)",
            context.user["id"],
            len(context.missing_media),
            ", ".join(map(str, context.missing_media[:10])),
        )
