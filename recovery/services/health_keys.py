"""The encryption-keys component of the health check, cheap at any catalog size.

Invariants:
- Every completed backup's two sidecar copies are found by one listing of
  the storage (per prefix), not one request each: a missing copy is seen
  every hour.
- A copy is read and parsed again only when the listing shows it written
  since its last full read (another size or tag), when that read found a
  problem, or when it is ``RECHECK_AFTER`` old (a slice per check); otherwise
  the key ids found then (``SidecarCheck``) are held against the key ring.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from backups.archive.sidecar import open_sidecar, parse_sidecar
from backups.exceptions import (
    BackupError,
    KeyUnavailable,
    ObjectMissing,
    StorageUnavailable,
)
from backups.keyring import load_keyring
from backups.models import Backup
from backups.services.sidecars import ARCHIVE_PREFIX, COPY_PREFIX, sidecar_names
from backups.storage import object_store
from recovery.models import SidecarCheck
from recovery.services.health_component import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    Component,
)

# The sidecar copies of a backup are read again, whatever the listing says,
# once their last read is this old; at most RECHECKS_PER_RUN per check, the
# longest unread first, so a large catalog is re-read a slice an hour.
RECHECK_AFTER = timedelta(days=7)
RECHECKS_PER_RUN = 100


def check_keys() -> Component:
    """The primary key, every key a backup needs, and both sidecar copies.

    One listing of the storage shows which copies exist and whether they were
    written since their last read (size and tag); only those, and a slice of
    the ones unread for ``RECHECK_AFTER``, are read and parsed again. What a
    read found is kept in ``SidecarCheck``.
    """
    keyring = load_keyring()  # raises when no primary key is configured
    store = object_store()
    listed = store.list_stats(ARCHIVE_PREFIX.rstrip("/")) | store.list_stats(
        COPY_PREFIX.rstrip("/")
    )
    known = {
        backup_id: (fingerprint, key_ids, checked_at)
        for backup_id, fingerprint, key_ids, checked_at in (
            SidecarCheck.objects.values_list(
                "backup_id", "fingerprint", "key_ids", "checked_at"
            )
        )
    }
    backups = list(
        Backup.objects.filter(status=Backup.Status.COMPLETED)
        .exclude(object_key="")
        .values_list("id", "object_key")
    )
    recheck = _due_for_recheck(known)
    missing_keys: dict[str, list[str]] = {}
    bad_copies: list[str] = []
    read: list[SidecarCheck] = []
    for backup_id, object_key in backups:
        names = sidecar_names(object_key)
        stats = [listed.get(name) for name in names]
        fingerprint = " ".join(f"{s.size}:{s.tag}" for s in stats if s is not None)
        known_fingerprint, known_key_ids, _ = known.get(backup_id, ("", "", None))
        if (
            known_fingerprint == fingerprint
            and None not in stats
            and backup_id not in recheck
        ):
            key_ids = known_key_ids.split(",")
        else:
            key_ids, problems = _read_sidecars(store, names, stats, keyring)
            bad_copies += problems
            if not problems:
                read.append(
                    SidecarCheck(
                        backup_id=backup_id,
                        fingerprint=fingerprint,
                        key_ids=",".join(key_ids),
                        checked_at=timezone.now(),
                    )
                )
        for key_id in set(key_ids):
            if key_id not in keyring:
                missing_keys.setdefault(key_id, []).append(backup_id)
    SidecarCheck.objects.bulk_create(
        read,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["backup"],
        update_fields=["fingerprint", "key_ids", "checked_at"],
    )
    return _keys_component(keyring, missing_keys, bad_copies, len(backups))


def _due_for_recheck(known: dict[str, tuple]) -> set[str]:
    """Return the backups whose sidecars are read again now, whatever changed."""
    since = timezone.now() - RECHECK_AFTER
    old = sorted((at, backup_id) for backup_id, (*_, at) in known.items() if at < since)
    return {backup_id for _, backup_id in old[:RECHECKS_PER_RUN]}


def _read_sidecars(store, names, stats, keyring) -> tuple[list[str], list[str]]:
    """Read the listed copies; return their key ids and the bad copies.

    A copy whose key is in the ring is opened end to end (its data key
    unwrapped, its sealed manifest opened), so any changed byte shows.
    """
    key_ids: list[str] = []
    problems: list[str] = []
    for name, stat in zip(names, stats, strict=True):
        if stat is None:
            problems.append(f"{name} (missing)")
            continue
        try:
            raw = store.get(name)
            key_id = parse_sidecar(raw).key_id
            if key_id in keyring:
                open_sidecar(raw, keyring=keyring)
            key_ids.append(key_id)
        except (BackupError, OSError) as exc:
            problems.append(f"{name} ({_problem(exc)})")
    return key_ids, problems


def _problem(exc: Exception) -> str:
    if isinstance(exc, ObjectMissing):
        return "missing"
    if isinstance(exc, KeyUnavailable):
        return f"its key is configured, but another key: {exc}"
    if isinstance(exc, StorageUnavailable | OSError):
        return str(exc)
    return "damaged"


def _keys_component(keyring, missing_keys, bad_copies, checked: int) -> Component:
    primary = f"primary key {keyring.primary_id}"
    if missing_keys:
        first = sorted(missing_keys)[0]
        return Component(
            "encryption_keys",
            UNHEALTHY,
            len(missing_keys),
            "0 keys missing",
            f"{primary}; key(s) {', '.join(sorted(missing_keys))} needed by "
            f"{sum(len(v) for v in missing_keys.values())} backup(s) are not "
            "configured",
            f"Add key {first} back to TALOWA_BACKUP_KEYS (after the primary), or "
            "those backups cannot be restored.",
        )
    if bad_copies:
        return Component(
            "encryption_keys",
            DEGRADED,
            len(bad_copies),
            "0 sidecar copies missing or damaged",
            f"{primary}; sidecar copies missing or damaged: "
            f"{', '.join(bad_copies[:3])}"
            + (f" and {len(bad_copies) - 3} more" if len(bad_copies) > 3 else ""),
            "A sidecar copy is missing or damaged: run `rotate_keys`, which "
            "rewrites both copies of every sidecar.",
        )
    return Component(
        "encryption_keys",
        HEALTHY,
        0,
        "0 keys missing",
        f"{primary}; the keys and both sidecar copies of {checked} backup(s) "
        "are present",
    )
