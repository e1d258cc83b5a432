"""Key-encryption keys (KEKs) for backup archives.

Invariants: key bytes never appear in a ``repr``, a ``str``, a log line or an
exception message; a key is named by its id only. The first key of the ring
is the primary one: new archives are wrapped with it, and every listed key
can still unwrap the archives it wrapped (rotation adds a key in front and
re-wraps data keys, see ``backups.archive.rewrap_data_key``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from backups.exceptions import KeyUnavailable

logger = logging.getLogger(__name__)

KEY_LENGTH = 32
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SETTING_NAME = "TALOWA_BACKUP_KEYS"
DEV_KEY_FILENAME = "backup-dev.key"
DEV_KEY_ID = "dev-1"
PRODUCTION = "production"

_dev_warning_lock = threading.Lock()
_dev_warning_logged = False


class KeyRing:
    """Hold backup KEKs by id; the first one is the primary key."""

    def __init__(self, entries: Iterable[tuple[str, bytes]]) -> None:
        keys: dict[str, bytes] = {}
        for key_id, key in entries:
            _check_entry(key_id=key_id, key=key, seen=keys)
            keys[key_id] = bytes(key)
        if not keys:
            raise ValueError("a backup key ring needs at least one key")
        self._keys = keys

    @property
    def primary_id(self) -> str:
        """Return the id of the key that wraps new archives."""
        return next(iter(self._keys))

    @property
    def ids(self) -> tuple[str, ...]:
        """Return every key id, primary first."""
        return tuple(self._keys)

    def get(self, key_id: str) -> bytes:
        """Return the key for ``key_id`` or raise ``KeyUnavailable``."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyUnavailable(
                f"backup key {key_id!r} is not configured; add it to {SETTING_NAME}",
                key_id=key_id,
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(ids={list(self._keys)!r})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("a KeyRing holds secrets and cannot be pickled")


def _check_entry(*, key_id: str, key: bytes, seen: dict[str, bytes]) -> None:
    """Raise ValueError when a key ring entry is malformed or duplicated."""
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(
            "invalid backup key id: use 1 to 64 characters from A-Z a-z 0-9 _ . -"
        )
    if key_id in seen:
        raise ValueError(f"backup key id {key_id!r} is listed twice")
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_LENGTH:
        raise ValueError(f"backup key {key_id!r} must be exactly 32 bytes")


def parse_backup_keys(text: str) -> list[tuple[str, bytes]]:
    """Parse ``id:base64key,id2:base64key`` into ``(id, key)`` pairs, in order."""
    entries: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        key_id, key = _parse_entry(item, position=position)
        if key_id in seen:
            raise ValueError(
                f"{SETTING_NAME}: key id {key_id!r} is listed twice; "
                "keep one entry per id"
            )
        seen.add(key_id)
        entries.append((key_id, key))
    return entries


def _parse_entry(item: str, *, position: int) -> tuple[str, bytes]:
    """Parse one ``id:base64key`` entry without echoing any key material."""
    where = f"{SETTING_NAME} entry {position}"
    key_id, sep, encoded = item.partition(":")
    key_id = key_id.strip()
    if not sep:
        raise ValueError(f"{where} has no ':'; expected id:base64key")
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(
            f"{where} has an invalid key id; use 1 to 64 characters "
            "from A-Z a-z 0-9 _ . -"
        )
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"{where} (key id {key_id!r}) is not valid base64; "
            "generate a key with generate_key_spec()"
        ) from None
    if len(key) != KEY_LENGTH:
        raise ValueError(
            f"{where} (key id {key_id!r}) decodes to {len(key)} bytes; "
            f"a backup key must be exactly {KEY_LENGTH} bytes"
        )
    return key_id, key


def format_key_spec(*, key_id: str, key: bytes) -> str:
    """Return the ``id:base64key`` form of one key."""
    _check_entry(key_id=key_id, key=key, seen={})
    return f"{key_id}:{base64.b64encode(key).decode('ascii')}"


def generate_key_spec(key_id: str) -> str:
    """Return a new random key in ``id:base64key`` form."""
    return format_key_spec(key_id=key_id, key=secrets.token_bytes(KEY_LENGTH))


def load_keyring(
    *,
    keys: Sequence[tuple[str, bytes]] | None = None,
    data_dir: Path | str | None = None,
    environment: str | None = None,
) -> KeyRing:
    """Return the configured key ring, falling back to a dev key outside production.

    Arguments left as ``None`` are read from Django settings
    (``TALOWA_BACKUP_KEYS``, ``TALOWA_DATA_DIR``, ``TALOWA_ENV``).
    """
    if keys is None:
        keys = _setting(SETTING_NAME, [])
    if keys:
        return KeyRing(keys)
    if environment is None:
        environment = _setting("TALOWA_ENV", PRODUCTION)
    if environment == PRODUCTION:
        raise KeyUnavailable(
            f"no backup keys are configured; set {SETTING_NAME} to "
            "'id:base64key' (see generate_key_spec) before taking backups"
        )
    if data_dir is None:
        data_dir = _setting("TALOWA_DATA_DIR", None)
        if data_dir is None:
            raise KeyUnavailable(
                f"no backup keys are configured and TALOWA_DATA_DIR is not set; "
                f"set {SETTING_NAME}"
            )
    return KeyRing([_read_or_create_dev_key(Path(data_dir) / DEV_KEY_FILENAME)])


def _setting(name: str, default: object) -> object:
    """Return a Django setting, importing Django only when it is needed."""
    from django.conf import settings

    return getattr(settings, name, default)


def _read_or_create_dev_key(path: Path) -> tuple[str, bytes]:
    """Return the development key stored at ``path``, creating it if missing."""
    with contextlib.suppress(FileExistsError):
        _create_dev_key_file(path)
    entries = parse_backup_keys(path.read_text(encoding="ascii"))
    if len(entries) != 1:
        raise KeyUnavailable(
            f"development backup key file {path} must hold exactly one "
            "'id:base64key' entry; delete it to create a new one"
        )
    _warn_dev_key_once(path)
    return entries[0]


def _create_dev_key_file(path: Path) -> None:
    """Write a new development key to ``path`` with mode 0600, failing if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = generate_key_spec(DEV_KEY_ID)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(spec + "\n")
    os.chmod(path, 0o600)  # os.open's mode is filtered by the umask


def _warn_dev_key_once(path: Path) -> None:
    """Log once per process that backups use the development key."""
    global _dev_warning_logged
    with _dev_warning_lock:
        if _dev_warning_logged:
            return
        _dev_warning_logged = True
    logger.warning(
        "%s is empty: backups use the development key in %s. Set %s before "
        "keeping backups you care about.",
        SETTING_NAME,
        path,
        SETTING_NAME,
    )
