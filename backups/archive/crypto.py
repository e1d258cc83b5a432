"""AES-256-GCM envelope encryption of backup archives.

Invariants: every archive gets a fresh random data key, so (data key, nonce)
pairs never repeat across archives; within an archive each chunk nonce holds
the chunk index and a final flag, and the sidecar manifest uses a nonce no
chunk can have. Data keys only leave this module wrapped by a KEK.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backups.archive import format as fmt
from backups.exceptions import ArchiveCorrupted, KeyUnavailable


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key."""
    return os.urandom(fmt.DATA_KEY_LENGTH)


def key_check(kek: bytes) -> str:
    """Return the public check value that tells which KEK wrapped a data key."""
    digest = hmac.new(kek, fmt.KEY_CHECK_MESSAGE, hashlib.sha256).digest()
    return digest[:8].hex()


def wrap_data_key(
    *, data_key: bytes, kek: bytes, archive_id: str, key_id: str
) -> bytes:
    """Encrypt ``data_key`` under ``kek``, bound to the archive and key ids."""
    nonce = os.urandom(fmt.NONCE_LENGTH)
    aad = fmt.key_wrap_aad(archive_id=archive_id, key_id=key_id)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, aad)


def unwrap_data_key(
    *,
    wrapped_key: bytes,
    kek: bytes,
    archive_id: str,
    key_id: str,
    expected_check: str,
) -> bytes:
    """Decrypt a wrapped data key, telling a wrong KEK from a damaged wrapping."""
    if not hmac.compare_digest(key_check(kek), expected_check):
        raise KeyUnavailable(
            f"backup key {key_id!r} is configured, but it is not the key that "
            f"encrypted archive {archive_id} (key check mismatch); configure the "
            "original key under that id in TALOWA_BACKUP_KEYS",
            key_id=key_id,
        )
    nonce = wrapped_key[: fmt.NONCE_LENGTH]
    aad = fmt.key_wrap_aad(archive_id=archive_id, key_id=key_id)
    try:
        return AESGCM(kek).decrypt(nonce, wrapped_key[fmt.NONCE_LENGTH :], aad)
    except InvalidTag:
        raise ArchiveCorrupted(
            f"the wrapped data key of archive {archive_id} failed authentication "
            f"with backup key {key_id!r}: the header or sidecar is corrupted or "
            "was tampered with; use another copy or another backup",
            archive_id=archive_id,
        ) from None


class ChunkCipher:
    """Seal and open the chunks of one archive with its data key."""

    def __init__(self, *, data_key: bytes, header_sha256: bytes, archive_id: str):
        self._aead = AESGCM(data_key)
        self._header_sha256 = header_sha256
        self._archive_id = archive_id

    def seal(self, plaintext: bytes, *, index: int, final: bool) -> bytes:
        """Return ciphertext and tag of chunk ``index``."""
        nonce = fmt.chunk_nonce(index, final=final)
        aad = fmt.chunk_aad(self._header_sha256, index, final=final)
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, *, index: int, final: bool) -> bytes:
        """Return the plaintext of chunk ``index`` or raise ArchiveCorrupted."""
        nonce = fmt.chunk_nonce(index, final=final)
        aad = fmt.chunk_aad(self._header_sha256, index, final=final)
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise ArchiveCorrupted(
                f"archive {self._archive_id}: chunk {index} failed authentication: "
                "the archive is corrupted or was tampered with; re-copy the object "
                "from storage or restore from another backup",
                archive_id=self._archive_id,
                chunk_index=index,
            ) from None

    def seal_manifest(self, manifest_json: bytes) -> bytes:
        """Return the sidecar ciphertext of the manifest JSON."""
        aad = fmt.manifest_aad(self._header_sha256)
        return self._aead.encrypt(fmt.MANIFEST_NONCE, manifest_json, aad)


def open_manifest(
    *, data_key: bytes, sealed: bytes, header_sha256: bytes, archive_id: str
) -> bytes:
    """Decrypt the sidecar's manifest JSON or raise ArchiveCorrupted."""
    aad = fmt.manifest_aad(header_sha256)
    try:
        return AESGCM(data_key).decrypt(fmt.MANIFEST_NONCE, sealed, aad)
    except InvalidTag:
        raise ArchiveCorrupted(
            f"the manifest in the sidecar of archive {archive_id} failed "
            "authentication: the sidecar is corrupted or belongs to another "
            "archive",
            archive_id=archive_id,
        ) from None
