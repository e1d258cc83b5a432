"""The audit trail: one function writes it, one function verifies it.

Invariants:
- Entries are only appended, through ``record_audit_event``; the admin shows
  them read-only and nothing in the project updates or deletes them.
- Each entry stores the previous entry's hash and an HMAC-SHA256 over its own
  fields and that hash, keyed from ``SECRET_KEY`` (or one of
  ``SECRET_KEY_FALLBACKS``). Editing, deleting or inserting a row anywhere,
  even by raw SQL, breaks the chain at that row; without the key a forger
  cannot extend it. ``AuditChainHead`` records the newest entry, so deleting
  the newest rows is caught too. The actor's name is hashed, not the link to
  the account, which is cleared when the account is deleted.
- Deleting the newest rows *and* rewinding the head leaves a consistent, only
  shorter chain; what catches it is an anchor kept outside the table: every
  backup records the head (``chain_head``) in its manifest and the catalog,
  and ``verify_audit_chain`` checks that the trail still reaches the head the
  newest backup recorded, with the same hash.
- Writers are serialised by locking the head row inside a transaction: write
  audit entries outside long transactions, or they wait for them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from talowa_admin.models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
VERIFY_CHUNK_SIZE = 2000


def record_audit_event(
    *,
    actor: Any = None,
    action: str,
    target: Any = None,
    details: dict | None = None,
    request: Any = None,
) -> AuditEvent:
    """Append an entry to the audit trail and return it.

    ``actor`` is a user, a label such as ``"command:create_backup"`` or None
    (the system). ``target`` is a model instance, a ``(type, id)`` pair or None.
    ``request`` supplies the source address and, when ``actor`` is None, the
    logged-in user.
    """
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    target_type, target_id = _describe_target(target)
    # Store exactly what is hashed: JSON-normalise details first.
    clean_details = json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))
    with transaction.atomic():
        head = _locked_head()
        event = AuditEvent(
            id=head.last_event_id + 1,
            created_at=timezone.now(),
            actor=actor if _is_user(actor) else None,
            actor_label=_actor_label(actor),
            action=action,
            target_type=target_type,
            target_id=target_id,
            source_address=_source_address(request),
            details=clean_details,
            previous_hash=head.last_hash,
        )
        event.entry_hash = _entry_hash(_chain_keys()[0], event)
        event.save(force_insert=True)
        head.last_event_id = event.id
        head.last_hash = event.entry_hash
        head.save(update_fields=["last_event_id", "last_hash"])
    logger.info(
        "audit %s by %s on %s %s", action, event.actor_label, target_type, target_id
    )
    return event


def chain_head() -> dict | None:
    """Return the newest entry as ``{"event_id", "hash"}``, None for an empty trail.

    This is the anchor a backup records in its manifest (key ``audit_head``).
    """
    head = AuditChainHead.objects.filter(id=1).first()
    if head is None or head.last_event_id == 0:
        return None
    return {"event_id": head.last_event_id, "hash": head.last_hash}


class AuditChainBroken(Exception):
    """The chain head is gone while entries exist: the trail was tampered with."""


def _locked_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(id=1).first()
    if head is not None:
        return head
    if AuditEvent.objects.exists():
        raise AuditChainBroken(
            "the audit chain head is missing while entries exist; run "
            "verify_audit_log and investigate before recording more"
        )
    # A new, empty trail (a fresh or flushed database).
    return AuditChainHead.objects.create(id=1, last_event_id=0, last_hash=GENESIS_HASH)


@dataclass(frozen=True)
class AuditAnchor:
    """A head of the trail recorded outside it: by ``source``, a backup."""

    event_id: int
    hash: str
    source: str


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking the chain.

    ``missing`` is ``(first id, last id)`` of the entries known to be gone
    from the end of the trail (up to the anchor), or None.
    """

    ok: bool
    checked: int
    broken_at: int | None = None
    reason: str = ""
    missing: tuple[int, int] | None = None


def verify_audit_chain(anchor: AuditAnchor | None = None) -> AuditVerification:
    """Walk the whole trail and report the first entry that breaks the chain.

    With an ``anchor``, the trail must also reach it: its entry exists and
    carries the recorded hash.
    """
    keys = _chain_keys()
    expected_previous = GENESIS_HASH
    expected_id = 1
    checked = 0
    anchored_hash = None
    events = AuditEvent.objects.order_by("id").iterator(chunk_size=VERIFY_CHUNK_SIZE)
    for event in events:
        problem = _check_entry(event, expected_id, expected_previous, keys)
        if problem:
            return AuditVerification(False, checked, event.id, problem)
        checked += 1
        expected_previous = event.entry_hash
        expected_id = event.id + 1
        if anchor is not None and event.id == anchor.event_id:
            anchored_hash = event.entry_hash
    if anchor is not None:
        cut = _check_anchor(anchor, anchored_hash, last_id=expected_id - 1)
        if cut is not None:
            return replace(cut, checked=checked)
    head = AuditChainHead.objects.filter(id=1).first()
    if head is None:
        return AuditVerification(False, checked, None, "the chain head is missing")
    if (head.last_event_id, head.last_hash) != (expected_id - 1, expected_previous):
        return AuditVerification(
            False,
            checked,
            head.last_event_id,
            f"the chain head names entry {head.last_event_id} but the trail ends "
            f"at entry {expected_id - 1}: newest entries were deleted or replaced",
        )
    return AuditVerification(True, checked)


def _check_anchor(
    anchor: AuditAnchor, anchored_hash: str | None, *, last_id: int
) -> AuditVerification | None:
    """Return why the trail does not reach ``anchor``, or None when it does."""
    if anchored_hash is None:
        first, last = last_id + 1, anchor.event_id
        gone = (
            f"entry {first} is missing"
            if first == last
            else f"entries {first}-{last} ({last - first + 1}) are missing"
        )
        return AuditVerification(
            False,
            0,
            first,
            f"{anchor.source} recorded entry {last} as the newest, but the trail "
            f"ends at entry {last_id}: {gone}; the newest entries were deleted",
            missing=(first, last),
        )
    if not hmac.compare_digest(anchored_hash, anchor.hash):
        return AuditVerification(
            False,
            0,
            anchor.event_id,
            f"entry {anchor.event_id} is not the one {anchor.source} recorded "
            "(another hash): the trail was cut at or before it and written anew",
        )
    return None


def _check_entry(
    event: AuditEvent, expected_id: int, expected_previous: str, keys: list[bytes]
) -> str:
    if event.id != expected_id:
        return f"entry {expected_id} is missing (the next entry is {event.id})"
    if event.previous_hash != expected_previous:
        return "its previous-hash does not match the entry before it"
    if not any(
        hmac.compare_digest(_entry_hash(k, event), event.entry_hash) for k in keys
    ):
        return "its contents do not match its hash: the entry was altered or forged"
    return ""


def _entry_hash(key: bytes, event: AuditEvent) -> str:
    fields = {
        "id": event.id,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "source_address": event.source_address,
        "details": event.details,
    }
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    message = f"{event.previous_hash}\n{payload}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _chain_keys() -> list[bytes]:
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return [
        hashlib.sha256(b"talowa-audit-chain\n" + s.encode()).digest() for s in secrets
    ]


def _is_user(actor: Any) -> bool:
    return hasattr(actor, "get_username")


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if _is_user(actor):
        return actor.get_username()
    return str(actor)[:150]


def _describe_target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        kind, ident = target
        return str(kind)[:64], str(ident)[:128]
    return target._meta.label_lower, str(target.pk)


def _source_address(request: Any) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None
