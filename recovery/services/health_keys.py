"""The encryption-keys component of the health check, cheap at any catalog size.

Invariants:
- Every completed backup's two sidecar copies are found by one listing of
  the storage (per prefix), not one request each: a missing copy is seen
  every hour.
- A copy is read and opened again only when the listing shows it written
  since its last full read (another size or tag), when that read found a
  problem, or when it is ``RECHECK_AFTER`` old (a slice per check); otherwise
  the key ids found then (``SidecarCheck``) are held against the key ring.
- Reads stop after ``READ_SECONDS``, so the check answers within its time
  limit even the first time over a large catalog: the backups left unread
  are held against the ring by the key id in their catalog entry, said so
  in the detail, and read by the next checks.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from backups.archive import open_sidecar, parse_sidecar
from backups.exceptions import (
    BackupError,
    KeyUnavailable,
    ObjectMissing,
    StorageUnavailable,
)
from backups.keyring import load_keyring
from backups.models import Backup
from backups.services.sidecars import sidecar_names, stored_sidecar_stats
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
READ_SECONDS = 5.0  # then the rest waits for the next check


def check_keys() -> Component:
    """The primary key, every key a backup needs, and both sidecar copies."""
    keyring = load_keyring()  # raises when no primary key is configured
    store = object_store()
    listed = stored_sidecar_stats(store)
    known = {
        backup_id: (fingerprint, key_ids)
        for backup_id, fingerprint, key_ids in SidecarCheck.objects.values_list(
            "backup_id", "fingerprint", "key_ids"
        )
    }
    recheck = set(
        SidecarCheck.objects.filter(checked_at__lt=timezone.now() - RECHECK_AFTER)
        .order_by("checked_at")
        .values_list("backup_id", flat=True)[:RECHECKS_PER_RUN]
    )
    found = _Findings()
    deadline = time.monotonic() + READ_SECONDS
    for backup_id, object_key, catalog_key in (
        Backup.objects.filter(status=Backup.Status.COMPLETED)
        .exclude(object_key="")
        .values_list("id", "object_key", "key_id")
    ):
        names = sidecar_names(object_key)
        stats = [listed.get(name) for name in names]
        fingerprint = " ".join(f"{s.size}:{s.tag}" for s in stats if s is not None)
        before, key_ids = known.get(backup_id, ("", ""))
        unchanged = before == fingerprint and None not in stats
        if unchanged and backup_id not in recheck:
            found.add(backup_id, key_ids.split(","), keyring)
        elif time.monotonic() > deadline:
            found.unread += 1
            found.bad += [
                f"{name} (missing)"
                for name, stat in zip(names, stats, strict=True)
                if stat is None
            ]
            found.add(backup_id, [catalog_key] if catalog_key else [], keyring)
        else:
            key_ids, problems = _read_sidecars(store, names, stats, keyring)
            found.bad += problems
            found.add(backup_id, key_ids, keyring)
            if not problems:
                found.remember(backup_id, fingerprint, key_ids)
    found.save()
    return _keys_component(keyring, found)


class _Findings:
    """What the check found, backup by backup."""

    def __init__(self) -> None:
        self.backups = 0
        self.unread = 0
        self.bad: list[str] = []
        self.missing_keys: dict[str, list[str]] = {}
        self.read: list[SidecarCheck] = []

    def add(self, backup_id: str, key_ids: list[str], keyring) -> None:
        self.backups += 1
        for key_id in set(key_ids):
            if key_id not in keyring:
                self.missing_keys.setdefault(key_id, []).append(backup_id)

    def remember(self, backup_id: str, fingerprint: str, key_ids: list[str]) -> None:
        self.read.append(
            SidecarCheck(
                backup_id=backup_id,
                fingerprint=fingerprint,
                key_ids=",".join(key_ids),
                checked_at=timezone.now(),
            )
        )

    def save(self) -> None:
        SidecarCheck.objects.bulk_create(
            self.read,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["backup"],
            update_fields=["fingerprint", "key_ids", "checked_at"],
        )


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


def _keys_component(keyring, found: _Findings) -> Component:
    primary = f"primary key {keyring.primary_id}"
    if found.unread:
        primary += (
            f"; {found.unread} backup(s) not read yet (their keys taken from the "
            "catalog; the next checks read them)"
        )
    if found.missing_keys:
        missing = found.missing_keys
        first = sorted(missing)[0]
        return Component(
            "encryption_keys",
            UNHEALTHY,
            len(missing),
            "0 keys missing",
            f"{primary}; key(s) {', '.join(sorted(missing))} needed by "
            f"{sum(len(v) for v in missing.values())} backup(s) are not "
            "configured",
            f"Add key {first} back to TALOWA_BACKUP_KEYS (after the primary), or "
            "those backups cannot be restored.",
        )
    if found.bad:
        bad = found.bad
        return Component(
            "encryption_keys",
            DEGRADED,
            len(bad),
            "0 sidecar copies missing or damaged",
            f"{primary}; sidecar copies missing or damaged: {', '.join(bad[:3])}"
            + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""),
            "A sidecar copy is missing or damaged: run `rotate_keys`, which "
            "rewrites both copies of every sidecar.",
        )
    return Component(
        "encryption_keys",
        HEALTHY,
        0,
        "0 keys missing",
        f"{primary}; the keys and both sidecar copies of {found.backups} "
        "backup(s) are present",
    )
