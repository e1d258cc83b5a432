"""Move backups from one storage to another (``migrate_backups``), verified.

Where a backup lives: ``Backup.storage`` is an alias of ``settings.STORAGES``.
``backups`` is the storage ``TALOWA_BACKUP_STORAGE`` names (new backups go
there); ``backups-file`` (``TALOWA_DATA_DIR/backups``) and ``backups-s3``
(the bucket of the ``AWS_*`` variables) are the two places a backup can be
moved to. Two aliases that reach the same directory or bucket prefix are the
same place, and a backup already there is not moved.

Invariants:
- At every moment the catalog names a storage holding the backup's complete,
  intact archive: its location is switched to the target only after the
  target's copy has been read back with the catalog's SHA-256 and both
  sidecar copies read back equal to the source's, byte for byte; the switch
  and the item's state change commit together.
- A source object is deleted only with ``delete_source`` and only after the
  switch; two aliases of one place never count as source and target. The
  sources an earlier run kept (``sources_left``) are deleted by a later run
  with ``delete_source`` only once the target's copy reads back intact. An
  item is SWITCHED from its switch until its source is deleted, so a killed
  run resumes the deletion; without ``delete_source`` the switch makes it
  DONE. A resumed run applies the resuming call's ``delete_source`` to every
  backup the run switched (``_start_or_resume``).
- A source archive whose bytes do not have the catalog's SHA-256 is not
  kept at the target (a copy made of it, whole or partial, is removed): the
  item fails, the source stays, the run ends "completed with errors".
- An object appears at the target only once complete (``backups.storage``);
  a rerun after a crash resumes the dead run, finds the archives already at
  the target, verifies them and does not copy them again (sidecars, a few
  kilobytes each, are simply written again). Which archives the target holds
  is asked once, in one listing before the copies start, unless the target
  holds so many other objects there that asking for each archive costs less
  (``LISTED_PER_ARCHIVE``); an archive found is skipped only once read back
  with the catalog's SHA-256.
- Expiry waits for a migration and a migration for an expiry (one lock,
  ``locks.BACKUP_OBJECTS_LOCK``). A backup that left the catalog or expired
  while a run was dead has its copy at the target removed when the run
  resumes: the target holds no object of a backup the catalog does not
  place there.
- Media blobs travel inside their archive (blob sections, docs/
  archive-format.md section 13.1): the archive's checksum covers them.

Steps for each backup: 1. copy (or verify) the archive and, at the same time,
both sidecar copies (a sidecar copied beside an archive that failed is
removed); 2. switch the catalog; 3. with ``delete_source``, delete the
source's archive and sidecars. Step 1 runs in ``COPY_LANES`` threads, a few
backups at once (a small backup's copy is mostly request round trips), and
never touches the database; steps 2 and 3 run in the calling thread, for
each backup as soon as its own copy is done, in the order the copies end (the
small backups are switched while a large archive still travels). Backups
whose copy is not started (switched by an earlier run, or no longer movable)
are finished first. One archive larger than a single request travels at a
time, so memory stays that of one multipart upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from django.db import transaction
from django.utils import timezone

from backups.exceptions import ArchiveCorrupted, BackupError, StorageUnavailable
from backups.models import Backup, StorageMigration, StorageMigrationItem
from backups.services.sidecars import COPY_PREFIX, sidecar_names
from backups.storage import PART_SIZE, ObjectStore, object_store, place_of
from talowa_admin import liveness, locks
from talowa_admin.audit import record_audit_event

logger = logging.getLogger(__name__)

TARGETS = {"file": "backups-file", "s3": "backups-s3"}
MIGRATION_LOCK = locks.BACKUP_OBJECTS_LOCK  # expiry takes it too
COPY_CHUNK = 1024 * 1024
# Archives up to this size are copied in one request, through memory.
SMALL_OBJECT = PART_SIZE
COPY_LANES = 3  # backups copied at once (step 1)
# Which archives the target holds already is asked in one listing, unless it
# holds so many other objects that a request for each archive costs less: at
# most this many names listed per archive to copy (and at least one page's).
LISTED_PER_ARCHIVE = 10
LISTING_PAGE = 1000  # names in one S3 listing request

Item = StorageMigrationItem
# The run's fields a backup's progress changes (``_set_state``).
PROGRESS = [
    "backups_done",
    "objects_copied",
    "objects_skipped",
    "bytes_copied",
    "seconds",
    "errors",
]
Progress = Callable[[StorageMigration], None]


def target_alias(to: str) -> str:
    """Return the storage alias of target ``to`` (``file`` or ``s3``)."""
    if to not in TARGETS:
        raise BackupError(f"--to must be file or s3, not {to!r}")
    alias = TARGETS[to]
    if to == "s3" and not object_store(alias).storage.bucket_name:
        raise BackupError(
            "--to s3 needs the bucket: set AWS_STORAGE_BUCKET_NAME (and "
            "AWS_S3_ENDPOINT_URL for a store other than Amazon S3)"
        )
    return alias


def backups_to_move(alias: str) -> list[Backup]:
    """Return the completed backups whose catalog location is not ``alias``'s place."""
    target = place_of(alias)
    places: dict[str, tuple[str, ...]] = {}
    moving = []
    completed = Backup.objects.filter(status=Backup.Status.COMPLETED).exclude(
        object_key=""
    )
    for backup in completed.order_by("created_at", "id"):
        if backup.storage not in places:
            places[backup.storage] = place_of(backup.storage)
        if places[backup.storage] != target:
            moving.append(backup)
    return moving


def migrate_backups(
    *,
    to: str,
    dry_run: bool = False,
    delete_source: bool = False,
    actor: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Copy every backup to storage ``to``, verify it, switch the catalog."""
    alias = target_alias(to)
    if dry_run:
        return _preview(alias, to=to, delete_source=delete_source, actor=actor)
    try:
        with locks.hold(MIGRATION_LOCK, purpose=f"migrate_backups --to {to}"):
            run = _start_or_resume(alias, delete_source=delete_source, actor=actor)
            try:
                with liveness.Heartbeat(StorageMigration.objects.filter(pk=run.pk)):
                    _run(run, progress=progress)
            except BackupError as exc:
                _end(run, StorageMigration.Status.FAILED, str(exc))
                raise BackupError(
                    f"migration run {run.pk} stopped: {exc}; run migrate_backups "
                    "again to resume it"
                ) from exc
    except locks.LockHeld as exc:
        raise BackupError(f"{exc}; wait for it to finish") from exc
    record_audit_event(
        actor=actor,
        action="backup.migrate",
        target=run,
        details=summarize(run),
    )
    return summarize(run)


def _preview(alias: str, *, to: str, delete_source: bool, actor: Any) -> dict:
    moving = backups_to_move(alias)
    left = sources_left(alias) if delete_source else []
    result = {
        "dry_run": True,
        "target": alias,
        "delete_source": delete_source,
        "backups": [b.id for b in moving],
        "backups_total": len(moving),
        "bytes_total": sum(b.stored_bytes for b in moving),
        # Moved here before without --delete-source: their sources go too.
        "sources_left": [item.backup_id for item in left],
    }
    record_audit_event(
        actor=actor,
        action="backup.migrate_preview",
        details={k: v for k, v in result.items() if k != "backups"},
    )
    return result


def _start_or_resume(
    alias: str, *, delete_source: bool, actor: Any
) -> StorageMigration:
    """Take over the last unfinished run to ``alias``, or start a new run.

    A run is unfinished when its worker died or it failed with backups still
    pending or copied but not yet done; the migration lock, held here, means
    no live run exists. A resumed run takes this call's ``delete_source`` for
    all its backups: with it, the sources of those it switched before without
    it are deleted too; without it, sources not yet deleted are kept.
    """
    running = StorageMigration.objects.filter(status=StorageMigration.Status.RUNNING)
    for run in liveness.dead(running):
        _end(run, StorageMigration.Status.FAILED, liveness.died_reason(run))
    unfinished = (
        StorageMigration.objects.filter(
            target=alias,
            status=StorageMigration.Status.FAILED,
            items__state__in=[Item.State.PENDING, Item.State.SWITCHED],
        )
        .order_by("-started_at")
        .first()
    )
    if unfinished is not None:
        run = unfinished
        run.resumed += 1
        run.status = StorageMigration.Status.RUNNING
        run.finished_at = None
        run.worker, run.heartbeat_at = locks.this_holder(), timezone.now()
        with transaction.atomic():
            if delete_source and not run.delete_source:
                # The backups it switched before are done but keep their sources.
                placed = Backup.objects.filter(
                    storage=alias, status=Backup.Status.COMPLETED
                )
                run.items.filter(
                    state=Item.State.DONE, backup_id__in=placed.values("id")
                ).update(state=Item.State.SWITCHED)
            run.delete_source = delete_source
            run.save()
        logger.info("storage migration %s resumed", run.pk)
        return run
    return StorageMigration.objects.create(
        target=alias,
        delete_source=delete_source,
        requested_by=str(actor or "")[:150],
        worker=locks.this_holder(),
        heartbeat_at=timezone.now(),
    )


def _end(run: StorageMigration, status: str, error: str = "") -> None:
    run.status = status
    if error:
        run.errors = [*run.errors, {"error": error}]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "errors", "finished_at"])


def _run(run: StorageMigration, *, progress: Progress | None) -> None:
    target = object_store(run.target)
    writing = Backup.objects.filter(
        status__in=[Backup.Status.RUNNING, Backup.Status.PENDING]
    )
    if not writing.exists():  # else the partials may be a running backup's
        target.remove_partials("archives", COPY_PREFIX.rstrip("/"))  # a killed run's
    _plan(run)
    items = list(
        run.items.exclude(state__in=[Item.State.DONE, Item.State.FAILED]).order_by("pk")
    )
    lanes = ThreadPoolExecutor(max_workers=COPY_LANES)
    stopwatch = _Stopwatch()
    try:
        copying = _start_copies(items, target, lanes)
        waiting = set(copying.values())
        for item in items:
            if item not in waiting:
                _finish_uncopied(run, item, target)
                if progress:
                    progress(run)
        for copy in as_completed(copying):
            _switch(run, copying[copy], target, copy, stopwatch)
            if progress:
                progress(run)
    finally:
        # On an error in this thread, copies not yet started never start.
        lanes.shutdown(cancel_futures=True)
    failed = run.items.filter(state=Item.State.FAILED).exists()
    run.finished_at = timezone.now()
    run.status = (
        StorageMigration.Status.COMPLETED_WITH_ERRORS
        if failed
        else StorageMigration.Status.COMPLETED
    )
    run.save()
    logger.info("storage migration %s: %s", run.pk, summarize(run))


def _plan(run: StorageMigration) -> None:
    """Add an item for every backup still to move; total the run's work.

    With ``delete_source``, also an item, already switched, for every backup
    an earlier run moved here without deleting its source (``sources_left``).
    """
    known = set(run.items.values_list("backup_id", flat=True))
    to_move = [
        Item(
            run=run,
            backup_id=backup.id,
            source=backup.storage,
            object_key=backup.object_key,
            bytes=backup.stored_bytes,
        )
        for backup in backups_to_move(run.target)
        if backup.id not in known
    ]
    left = [
        Item(
            run=run,
            backup_id=earlier.backup_id,
            source=earlier.source,
            object_key=earlier.object_key,
            state=Item.State.SWITCHED,
        )
        for earlier in (sources_left(run.target) if run.delete_source else [])
        if earlier.backup_id not in known
    ]
    Item.objects.bulk_create([*to_move, *left])
    run.backups_total = run.items.count()
    run.backups_done += len(left)  # switched already (``_set_state``)
    run.bytes_total = sum(run.items.values_list("bytes", flat=True))
    run.save(update_fields=["backups_total", "backups_done", "bytes_total"])


def sources_left(alias: str) -> list[Item]:
    """Return the items of earlier runs to ``alias`` whose sources were kept.

    For each backup the catalog places at ``alias``: its newest item done by
    a run to ``alias``, when that run did not delete sources and its source
    is another place. Its source objects are still there, for a later run
    with ``delete_source`` to delete once the target's copy reads back
    intact (``_finish_uncopied``).
    """
    placed = Backup.objects.filter(storage=alias, status=Backup.Status.COMPLETED)
    done = (
        Item.objects.filter(
            run__target=alias,
            state=Item.State.DONE,
            backup_id__in=placed.values("id"),
        )
        .select_related("run")
        .order_by("-pk")
    )
    newest: dict[str, Item] = {}
    for item in done:
        newest.setdefault(item.backup_id, item)
    target = place_of(alias)
    return [
        item
        for item in newest.values()
        if not item.run.delete_source and place_of(item.source) != target
    ]


def _movable(item: Item) -> Backup | None:
    """The item's backup if it is still complete at the item's source."""
    backup = Backup.objects.filter(pk=item.backup_id).first()
    if (
        backup is None
        or backup.status != Backup.Status.COMPLETED
        or backup.storage != item.source
    ):
        return None
    return backup


def _start_copies(
    items: list[Item], target: ObjectStore, lanes: ThreadPoolExecutor
) -> dict[Future, Item]:
    """Start step 1 for each pending item whose backup is still movable."""
    movable = [
        (item, backup)
        for item in items
        if item.state == Item.State.PENDING and (backup := _movable(item)) is not None
    ]
    held = _archives_held(target, [backup.object_key for _, backup in movable])
    one_large = threading.Semaphore(1)
    return {
        lanes.submit(
            _copy_in_lane, backup, object_store(item.source), target, held, one_large
        ): item
        for item, backup in movable
    }


def _archives_held(target: ObjectStore, keys: list[str]) -> Callable[[str], bool]:
    """Return a test of whether ``target`` holds an archive (one of ``keys``).

    Asked once, in a listing of the archives' prefix, before their copies
    start; while the run holds the migration lock no one else writes these
    names. A target holding more than ``LISTED_PER_ARCHIVE`` objects there
    per archive to copy is asked for each archive instead (a HEAD on S3).
    """
    most = max(LISTING_PAGE, LISTED_PER_ARCHIVE * len(keys))
    held: set[str] = set()
    for prefix in {key.rpartition("/")[0] for key in keys}:
        names = target.list_at_most(f"{prefix}/" if prefix else "", most)
        if names is None:
            return target.exists
        held.update(names)
    return held.__contains__


def _copy_in_lane(
    backup: Backup,
    source: ObjectStore,
    target: ObjectStore,
    held: Callable[[str], bool],
    one_large: threading.Semaphore,
) -> dict[str, bool]:
    """Step 1 in a copy lane: ``_copy_backup``, one large archive at a time."""
    large = backup.stored_bytes > SMALL_OBJECT
    with one_large if large else contextlib.nullcontext():
        return _copy_backup(backup, source, target, held)


class _Stopwatch:
    """Laps of the copying: the run's seconds, however many lanes overlap."""

    def __init__(self) -> None:
        self.mark = time.monotonic()

    def lap(self) -> float:
        now = time.monotonic()
        lap, self.mark = now - self.mark, now
        return lap


def _finish_uncopied(run: StorageMigration, item: Item, target: ObjectStore) -> None:
    """Finish an item whose copy was not started (steps 2 and 3 as far as due).

    That is one already switched by this run before it was killed or by an
    earlier run (its source is deleted now with ``delete_source``, once the
    target's copy reads back intact), or one whose backup is no longer
    movable.
    """
    if item.state == Item.State.PENDING:
        # Expired, deleted or moved by someone else while the run was dead:
        # a copy a killed run left at the target is nobody's.
        backup = Backup.objects.filter(pk=item.backup_id).first()
        _remove_unplaced_copy(run, item, backup, target)
        _set_state(run, item, Item.State.DONE)
    elif item.state == Item.State.SWITCHED:
        problem = run.delete_source and _target_copy_problem(item, target)
        if problem:
            _fail(run, item, problem)
        else:
            _finish_switched(run, item)


def _target_copy_problem(item: Item, target: ObjectStore) -> str | None:
    """Say why ``item``'s source must stay, or None if it may be deleted.

    It may when the catalog no longer holds the backup (the source is an
    orphan), or when the target holds the backup's archive with the
    catalog's SHA-256 and every sidecar copy the source holds.
    """
    backup = Backup.objects.filter(
        pk=item.backup_id, status=Backup.Status.COMPLETED
    ).first()
    if backup is None:
        return None
    kept = "its source is kept"
    if place_of(backup.storage) != place_of(target.alias):
        return f"the catalog places {backup.id} in {backup.storage!r}: {kept}"
    source = object_store(item.source)
    missing = [
        name
        for name in sidecar_names(item.object_key)
        if not target.exists(name) and source.exists(name)
    ]
    if not target.exists(item.object_key):
        missing.insert(0, item.object_key)
    if missing:
        return f"{', '.join(missing)} missing at the target: {kept}"
    if sha256_of(target, item.object_key) != backup.sha256:
        return (
            f"the target's copy of {item.object_key} does not match the catalog's "
            f"SHA-256: {kept}; verify_backup {backup.id} says what is damaged"
        )
    return None


def _switch(
    run: StorageMigration,
    item: Item,
    target: ObjectStore,
    copy: Future,
    stopwatch: _Stopwatch,
) -> None:
    """Steps 2 and 3 for ``item``, whose ``copy`` (step 1) has ended."""
    try:
        copied = copy.result()
    except BackupError as exc:
        run.seconds += stopwatch.lap()
        _fail(run, item, str(exc))
        return
    with transaction.atomic():
        switched = Backup.objects.filter(
            pk=item.backup_id, storage=item.source, status=Backup.Status.COMPLETED
        ).update(storage=run.target)
        run.objects_copied += sum(copied.values())
        run.objects_skipped += len(copied) - sum(copied.values())
        run.bytes_copied += item.bytes if copied[item.object_key] else 0
        run.seconds += stopwatch.lap()
        # Not switched (the backup left the catalog meanwhile): its
        # source is not this run's to delete, and its copy is nobody's.
        # SWITCHED says that the source is still to be deleted.
        deleting = switched and run.delete_source
        _set_state(run, item, Item.State.SWITCHED if deleting else Item.State.DONE)
    if not switched:
        _remove_unplaced_copy(
            run, item, Backup.objects.filter(pk=item.backup_id).first(), target
        )
    if item.state == Item.State.SWITCHED:
        _finish_switched(run, item)


def _finish_switched(run: StorageMigration, item: Item) -> None:
    """Step 3: with ``delete_source``, delete a switched item's source."""
    if run.delete_source:
        _delete_source(object_store(item.source), item.object_key)
    _set_state(run, item, Item.State.DONE)


def _remove_unplaced_copy(
    run: StorageMigration, item: Item, backup: Backup | None, target: ObjectStore
) -> None:
    """Delete the target's copy of an item the catalog no longer places there."""
    if backup is not None and place_of(backup.storage) == place_of(run.target):
        return  # moved there by someone else: the catalog's copy
    for name in (item.object_key, *sidecar_names(item.object_key)):
        if target.exists(name):
            target.delete(name)
            logger.info("storage migration %s: removed %s, unused", run.pk, name)


def _set_state(run: StorageMigration, item: Item, state: str) -> None:
    """Record ``item``'s new state and the run's progress in one transaction.

    ``backups_done`` counts the items switched or done: it changes only when
    an item leaves PENDING for one of them. The run's other fields are left
    alone (``heartbeat_at`` is another thread's).
    """
    with transaction.atomic():
        if item.state == Item.State.PENDING and state != Item.State.FAILED:
            run.backups_done += 1
        elif item.state == Item.State.SWITCHED and state == Item.State.FAILED:
            run.backups_done -= 1  # its source could not be deleted
        item.state = state
        item.save(update_fields=["state", "error"])
        run.save(update_fields=PROGRESS)


def _fail(run: StorageMigration, item: Item, reason: str) -> None:
    logger.warning("storage migration %s: %s: %s", run.pk, item.backup_id, reason)
    item.error = reason[:2000]
    run.errors = [*run.errors, {"backup": item.backup_id, "error": reason}]
    _set_state(run, item, Item.State.FAILED)


def _copy_backup(
    backup: Backup,
    source: ObjectStore,
    target: ObjectStore,
    held: Callable[[str], bool],
) -> dict[str, bool]:
    """Copy the archive and both sidecar copies at once; say which were copied.

    Each object travels in a thread of its own: a small backup's copy is
    mostly the round trips of its requests. When the archive is not copied,
    the sidecar copies written beside it are removed again.
    """
    names = sidecar_names(backup.object_key)
    with ThreadPoolExecutor(max_workers=1 + len(names)) as pool:
        archive = pool.submit(_copy_archive, backup, source, target, held)
        sidecars = {
            name: pool.submit(_copy_small, name, source, target) for name in names
        }
    if archive.exception() is not None:
        for name, sidecar in sidecars.items():
            if sidecar.exception() is None and sidecar.result():
                with contextlib.suppress(BackupError):
                    target.delete(name)
    copied = {backup.object_key: archive.result()}
    copied.update((name, sidecar.result()) for name, sidecar in sidecars.items())
    return copied


def _copy_archive(
    backup: Backup,
    source: ObjectStore,
    target: ObjectStore,
    held: Callable[[str], bool],
) -> bool:
    """Copy the archive unless the target holds it intact; True if copied.

    ``held`` says whether the target has an object of the archive's name;
    such an object is read back and skipped only if it has the catalog's
    SHA-256, else copied over.
    """
    key, expected = backup.object_key, backup.sha256
    if not expected:
        raise BackupError(
            f"backup {backup.id} has no checksum in the catalog; run "
            "verify_backup on it, or list_backups --from-storage --rebuild-catalog"
        )
    if held(key) and sha256_of(target, key) == expected:
        return False
    corrupted = ArchiveCorrupted(
        f"{key} in storage {backup.storage!r} does not match the catalog's "
        f"SHA-256: not copied, the source is kept; verify_backup {backup.id} "
        "says what is damaged",
        archive_id=backup.id,
    )
    local = source.local_file(key)
    if backup.stored_bytes <= SMALL_OBJECT:
        # One request instead of a multipart upload's three.
        data = source.get(key)
        if hashlib.sha256(data).hexdigest() != expected:
            raise corrupted
        target.put(key, data)
    elif local is not None:
        # Sent by name, the target's fastest way in, and not read here first:
        # a copy read back with the catalog's SHA-256 proves its source intact.
        target.write_file(key, local)
    else:
        with source.open_read(key) as reader:
            target.write_from(key, _Checked(reader, expected, corrupted))
    if sha256_of(target, key) != expected:
        target.delete(key)
        if local is not None and sha256_of(source, key) != expected:
            raise corrupted  # the source is damaged, not the copy
        raise StorageUnavailable(
            f"the copy of {key} read back from the target does not match the "
            "catalog's SHA-256; it was removed: rerun migrate_backups"
        )
    return True


class _Checked:
    """A reader that raises ``error`` at its end unless the bytes had ``sha256``.

    Raised from the last read, before the target makes the object visible.
    """

    def __init__(self, reader, sha256: str, error: Exception) -> None:
        self.reader, self.sha256, self.error = reader, sha256, error
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.reader.read(size)
        if data:
            self.digest.update(data)
        elif self.digest.hexdigest() != self.sha256:
            raise self.error
        return data


def _copy_small(name: str, source: ObjectStore, target: ObjectStore) -> bool:
    """Copy sidecar copy ``name``; False when the source has none.

    A sidecar is a few kilobytes: writing it again costs less than asking
    the target whether it has it already.
    """
    if not source.exists(name):
        # A lost copy is not made up here: rotate_keys repairs it from the other.
        logger.warning("sidecar copy %s is missing at the source", name)
        return False
    data = source.get(name)
    target.put(name, data)
    if target.get(name) != data:
        raise StorageUnavailable(
            f"the copy of {name} read back from the target differs from the "
            "source: rerun migrate_backups"
        )
    return True


def sha256_of(store: ObjectStore, name: str) -> str:
    """Return the SHA-256 of object ``name``, read in a stream."""
    digest = hashlib.sha256()
    with store.open_read(name) as reader:
        while data := reader.read(COPY_CHUNK):
            digest.update(data)
    return digest.hexdigest()


def _delete_source(source: ObjectStore, object_key: str) -> None:
    for name in (object_key, *sidecar_names(object_key)):
        source.delete(name)


def summarize(run: StorageMigration) -> dict[str, Any]:
    """Describe a run as ``migrate_backups --json`` prints it."""
    return {
        "run": run.pk,
        "target": run.target,
        "status": str(run.status),
        "delete_source": run.delete_source,
        "resumed": run.resumed,
        "backups_total": run.backups_total,
        "backups_done": run.backups_done,
        "objects_copied": run.objects_copied,
        "objects_skipped": run.objects_skipped,
        "bytes_total": run.bytes_total,
        "bytes_copied": run.bytes_copied,
        "seconds": round(run.seconds, 3),
        "bytes_per_second": round(run.rate),
        "errors": run.errors,
    }
