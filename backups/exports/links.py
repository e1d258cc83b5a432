"""Signed, expiring download links for export archives.

A link carries the job id and its owner's id, signed with ``SECRET_KEY``
under a salt of its own and stamped with the time it was made
(``TimestampSigner``). A link older than ``TALOWA_EXPORT_LINK_DAYS`` days is
expired; a link whose signature does not verify names nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing

SALT = "backups.exports.download"
DEFAULT_LINK_DAYS = 7


def link_lifetime() -> timedelta:
    """Return how long a download link (and the export behind it) lasts."""
    return timedelta(
        days=getattr(settings, "TALOWA_EXPORT_LINK_DAYS", DEFAULT_LINK_DAYS)
    )


@dataclass(frozen=True)
class LinkClaim:
    """What a verified link says: which job, whose, and whether it is too old."""

    job_id: int
    user_id: int
    expired: bool


def sign_download(*, job_id: int, user_id: int) -> str:
    """Return the signed token of a download link."""
    return signing.TimestampSigner(salt=SALT).sign(f"{job_id}.{user_id}")


def read_download(token: str) -> LinkClaim | None:
    """Return what ``token`` claims, or None when it is not a genuine link."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign(token)
    except signing.BadSignature:
        return None
    job_id, _, user_id = value.partition(".")
    if not (job_id.isdigit() and user_id.isdigit()):
        return None
    try:
        signer.unsign(token, max_age=link_lifetime())
    except signing.SignatureExpired:
        expired = True
    else:
        expired = False
    return LinkClaim(int(job_id), int(user_id), expired)
