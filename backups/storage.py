"""Object storage for backups: one small interface over the filesystem and S3.

Invariant: an object appears under its final name only when it is complete.
The filesystem writes to a hidden partial file beside the target and renames
it into place after an fsync; S3 uploads parts of a multipart upload that
becomes visible only when completed. A failed write removes its partial data
(aborts the upload); a killed process leaves only partial names, which
``remove_partials`` clears.

Reading streams: nothing here loads an archive into memory.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages

from backups.exceptions import ObjectMissing, StorageUnavailable

PART_SIZE = 8 * 1024 * 1024
# ``write_from`` on S3: parts of the smallest size S3 allows, a few in flight.
STREAM_PART_SIZE = 5 * 1024 * 1024
UPLOAD_CONCURRENCY = 4
# ``write_file`` on S3: boto3's own defaults for a file (upload_file's).
FILE_UPLOAD_CONCURRENCY = 10
PARTIAL_MARKER = ".partial-"
# S3 error codes that mean "these credentials may not do this" (a HEAD
# request's answer has no body, hence the bare status).
ACCESS_DENIED = {
    "403",
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
}
# Aliases of settings.STORAGES naming the two places a backup can live. A
# catalog entry (Backup.storage) names one of them, so it stays true when the
# operator switches TALOWA_BACKUP_STORAGE; "backups" (the configured place)
# is used only when neither alias reaches it (docs/operations.md).
PLACE_ALIASES = ("backups-file", "backups-s3")


@dataclass(frozen=True, slots=True)
class ObjectStat:
    """What a listing tells of an object without reading it.

    ``tag`` changes whenever the object is written again: the S3 ETag, or a
    file's modification time in nanoseconds.
    """

    size: int
    tag: str


class ObjectWriter(Protocol):
    def write(self, data: bytes | memoryview) -> None: ...


class ObjectStore(Protocol):
    """What the backup code needs from a storage."""

    alias: str

    def open_write(self, name: str) -> contextlib.AbstractContextManager[ObjectWriter]:
        """Stream an object; it becomes visible under ``name`` only on success."""

    def open_read(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Stream an object's bytes."""

    def write_from(self, name: str, reader: BinaryIO) -> None:
        """Stream ``reader`` to its end into ``name``, visible only on success.

        An exception raised by ``reader.read`` leaves nothing under ``name``.
        """

    def write_file(self, name: str, path: Path) -> None:
        """Copy the local file ``path`` into ``name``, visible only on success."""

    def local_file(self, name: str) -> Path | None:
        """Return the file that holds object ``name``, if the store keeps files."""

    def put(self, name: str, data: bytes) -> None:
        """Write a small object atomically, replacing any previous one."""

    def get(self, name: str) -> bytes:
        """Read a small object whole."""

    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def delete(self, name: str) -> None: ...

    def modified(self, name: str) -> datetime:
        """When the object was last written (aware, UTC)."""

    def list(self, prefix: str) -> list[str]:
        """Names (not partials) under ``prefix``, sorted."""

    def list_at_most(self, prefix: str, most: int) -> list[str] | None:
        """``list(prefix)``, or None as soon as there are more than ``most``."""

    def list_stats(self, prefix: str, *, suffix: str = "") -> dict[str, ObjectStat]:
        """Names (not partials) under ``prefix`` ending in ``suffix``, with stats."""

    def remove_partials(self, prefix: str, *more: str) -> int:
        """Delete unfinished writes under ``prefix`` (and ``more``); return how many."""


def object_store(alias: str = "backups") -> ObjectStore:
    """Return the object store behind ``STORAGES[alias]``."""
    storage = storages[alias]
    if isinstance(storage, FileSystemStorage):
        return FileObjectStore(alias, Path(storage.location))
    if type(storage).__module__.startswith("storages.backends.s3"):
        return S3ObjectStore(alias, storage)
    raise StorageUnavailable(
        f"the {alias!r} storage ({type(storage).__name__}) is not supported for "
        "backups; use the filesystem or S3 (TALOWA_BACKUP_STORAGE=file|s3)"
    )


def place_of(alias: str) -> tuple[str, ...]:
    """Return what identifies the place behind storage ``alias``.

    Two aliases with one place (the same directory, or the same endpoint,
    bucket and prefix) hold the same objects.
    """
    storage = storages[alias]
    if isinstance(storage, FileSystemStorage):
        return ("file", str(Path(storage.location).resolve()))
    return (
        "s3",
        getattr(storage, "endpoint_url", None) or "",
        getattr(storage, "bucket_name", None) or "",
        getattr(storage, "location", ""),
    )


def configured_alias() -> str:
    """Return the place alias of the configured backup storage (new backups)."""
    configured = place_of("backups")
    for alias in PLACE_ALIASES:
        if alias in settings.STORAGES and place_of(alias) == configured:
            return alias
    return "backups"


def backup_stores(aliases: Iterable[str] = ()) -> list[ObjectStore]:
    """Return one store per distinct place among ``aliases`` and the configured one."""
    stores, seen = [], set()
    for alias in ("backups", *aliases):
        place = place_of(alias)
        if place not in seen:
            seen.add(place)
            stores.append(object_store(alias))
    return stores


class FileObjectStore:
    """Objects as files under a directory."""

    def __init__(self, alias: str, root: Path) -> None:
        self.alias = alias
        # Resolved once: object paths are resolved too (see _path), and a data
        # directory reached through a symbolic link must list like any other.
        self.root = root.resolve()

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageUnavailable(f"object name {name!r} leaves the storage")
        return path

    @contextlib.contextmanager
    def open_write(self, name: str) -> Iterator[ObjectWriter]:
        final = self._path(name)
        partial = final.with_name(
            f".{final.name}{PARTIAL_MARKER}{secrets.token_hex(4)}"
        )
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            handle = open(partial, "xb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {name}: {exc.strerror}") from exc
        try:
            with handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self._path(name), "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError as exc:
            raise ObjectMissing(f"{name} is not in the backup storage") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {name}: {exc.strerror}") from exc
        with handle:
            yield handle

    def write_from(self, name: str, reader: BinaryIO) -> None:
        with self.open_write(name) as out:
            while data := reader.read(PART_SIZE):
                out.write(data)

    def write_file(self, name: str, path: Path) -> None:
        with open(path, "rb") as reader:
            self.write_from(name, reader)

    def local_file(self, name: str) -> Path | None:
        return self._path(name)

    def put(self, name: str, data: bytes) -> None:
        with self.open_write(name) as out:
            out.write(data)

    def get(self, name: str) -> bytes:
        with self.open_read(name) as handle:
            return handle.read()

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def modified(self, name: str) -> datetime:
        return datetime.fromtimestamp(self._path(name).stat().st_mtime, tz=UTC)

    def list(self, prefix: str) -> list[str]:
        return sorted(self._names(prefix))

    def list_at_most(self, prefix: str, most: int) -> list[str] | None:
        names = list(itertools.islice(self._names(prefix), most + 1))
        return sorted(names) if len(names) <= most else None

    def _names(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and PARTIAL_MARKER not in path.name:
                    yield str(path.relative_to(self.root))

    def list_stats(self, prefix: str, *, suffix: str = "") -> dict[str, ObjectStat]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return {}
        found = {}
        # os.scandir, not Path.rglob: a catalog of 10,000 backups lists in a
        # fraction of the time.
        pending = [(str(base), str(base.relative_to(self.root)).strip("."))]
        while pending:
            directory, relative = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = f"{relative}/{entry.name}" if relative else entry.name
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, name))
                    elif (
                        entry.name.endswith(suffix)
                        and PARTIAL_MARKER not in entry.name
                        and entry.is_file()
                    ):
                        try:
                            stat = entry.stat()
                        except FileNotFoundError:
                            continue  # deleted since the directory was read
                        found[name] = ObjectStat(stat.st_size, str(stat.st_mtime_ns))
        return found

    def remove_partials(self, prefix: str, *more: str) -> int:
        found = set()  # a set: one prefix may hold another
        for base in {self._path(p) if p else self.root for p in (prefix, *more)}:
            if base.is_dir():
                partials = base.rglob(f"*{PARTIAL_MARKER}*")
                found.update(path for path in partials if path.is_file())
        for path in found:
            path.unlink(missing_ok=True)
        return len(found)


class S3ObjectStore:
    """Objects in an S3 bucket (any S3-compatible endpoint), via django-storages."""

    def __init__(self, alias: str, storage) -> None:
        self.alias = alias
        self.storage = storage

    @property
    def _client(self):
        return _client_of(self.storage)

    @property
    def _bucket(self) -> str:
        return self.storage.bucket_name

    def _key(self, name: str) -> str:
        return self.storage._normalize_name(name)

    @contextlib.contextmanager
    def open_write(self, name: str) -> Iterator[ObjectWriter]:
        with _s3_errors(name):
            upload = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key(name)
            )
        writer = _MultipartWriter(
            self._client, self._bucket, self._key(name), upload["UploadId"], name
        )
        try:
            yield writer
            writer.complete()
        except BaseException:
            writer.abort()
            raise

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        with _s3_errors(name):
            body = self._client.get_object(Bucket=self._bucket, Key=self._key(name))
        stream = body["Body"]
        try:
            yield _S3Reader(stream, name)
        finally:
            stream.close()

    def write_from(self, name: str, reader: BinaryIO) -> None:
        # boto3's managed upload sends parts concurrently; it completes the
        # multipart upload only after the last read, and aborts it on error.
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=STREAM_PART_SIZE,
            multipart_chunksize=STREAM_PART_SIZE,
            max_concurrency=UPLOAD_CONCURRENCY,
        )
        # Parts read ahead of the uploads (s3transfer's default, 10, would
        # hold 50 MiB more): memory stays a few parts whatever the size.
        config.max_in_memory_upload_chunks = UPLOAD_CONCURRENCY
        try:
            with _s3_errors(name):
                self._client.upload_fileobj(
                    reader, self._bucket, self._key(name), Config=config
                )
        except S3UploadFailedError as exc:
            raise StorageUnavailable(
                f"the backup storage refused {name}: {exc}"
            ) from exc

    def write_file(self, name: str, path: Path) -> None:
        # boto3's upload of a file by name (the parts read from the file by
        # the threads that send them) is much faster than from a stream, whose
        # parts one thread reads in turn into memory.
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=FILE_UPLOAD_CONCURRENCY,
        )
        try:
            with _s3_errors(name):
                self._client.upload_file(
                    str(path), self._bucket, self._key(name), Config=config
                )
        except S3UploadFailedError as exc:
            raise StorageUnavailable(
                f"the backup storage refused {name}: {exc}"
            ) from exc

    def local_file(self, name: str) -> Path | None:
        return None

    def put(self, name: str, data: bytes) -> None:
        with _s3_errors(name):
            self._client.put_object(Bucket=self._bucket, Key=self._key(name), Body=data)

    def get(self, name: str) -> bytes:
        with self.open_read(name) as handle:
            return handle.read()

    def exists(self, name: str) -> bool:
        return self._head(name) is not None

    def size(self, name: str) -> int:
        head = self._head(name)
        if head is None:
            raise ObjectMissing(f"{name} is not in the backup storage")
        return head["ContentLength"]

    def _head(self, name: str) -> dict | None:
        """Return the object's metadata (a HEAD request), None if it is absent."""
        try:
            with _s3_errors(name):
                return self._client.head_object(
                    Bucket=self._bucket, Key=self._key(name)
                )
        except ObjectMissing:
            return None

    def delete(self, name: str) -> None:
        with _s3_errors(name):
            self._client.delete_object(Bucket=self._bucket, Key=self._key(name))

    def modified(self, name: str) -> datetime:
        with _s3_errors(name):
            head = self._client.head_object(Bucket=self._bucket, Key=self._key(name))
        return head["LastModified"]

    def list(self, prefix: str) -> list[str]:
        return sorted(self._names(prefix))

    def list_at_most(self, prefix: str, most: int) -> list[str] | None:
        # The pages are requested as they are read: no more than needed.
        names = list(itertools.islice(self._names(prefix), most + 1))
        return sorted(names) if len(names) <= most else None

    def _names(self, prefix: str) -> Iterator[str]:
        root = self._key("")
        start = self._key(prefix) if prefix else root
        paginator = self._client.get_paginator("list_objects_v2")
        with _s3_errors(prefix or "/"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=start):
                for item in page.get("Contents", []):
                    yield item["Key"][len(root) :].lstrip("/")

    def list_stats(self, prefix: str, *, suffix: str = "") -> dict[str, ObjectStat]:
        root = self._key("")
        start = self._key(prefix) if prefix else root
        found = {}
        paginator = self._client.get_paginator("list_objects_v2")
        with _s3_errors(prefix or "/"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=start):
                for item in page.get("Contents", []):
                    name = item["Key"][len(root) :].lstrip("/")
                    if name.endswith(suffix):
                        found[name] = ObjectStat(item["Size"], item["ETag"].strip('"'))
        return found

    def remove_partials(self, prefix: str, *more: str) -> int:
        # One listing of the uploads in progress for all the prefixes: under
        # their common start, the others left alone.
        starts = tuple(self._key(p) if p else self._key("") for p in (prefix, *more))
        removed = 0
        paginator = self._client.get_paginator("list_multipart_uploads")
        pages = paginator.paginate(
            Bucket=self._bucket, Prefix=os.path.commonprefix(starts)
        )
        with _s3_errors(prefix or "/"):
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Key"].startswith(starts):
                        self._client.abort_multipart_upload(
                            Bucket=self._bucket,
                            Key=upload["Key"],
                            UploadId=upload["UploadId"],
                        )
                        removed += 1
        return removed


def _client_of(storage):
    """Return the boto3 S3 client of a django-storages ``S3Storage``.

    Built as the storage builds its connection, from the same settings, but a
    client rather than a resource: the resource (which only wraps a client)
    costs another load of boto3's model files, a tenth of a second at every
    start of a command. One client per storage serves every thread (boto3's
    clients are thread-safe; its resources and sessions are not).
    """
    client = storage.__dict__.get(_CLIENT_ATTRIBUTE)
    if client is None:
        with _client_lock:
            client = storage.__dict__.get(_CLIENT_ATTRIBUTE)
            if client is None:
                client = storage._create_session().client(
                    "s3",
                    region_name=storage.region_name,
                    use_ssl=storage.use_ssl,
                    endpoint_url=storage.endpoint_url,
                    config=storage.client_config,
                    verify=storage.verify,
                )
                setattr(storage, _CLIENT_ATTRIBUTE, client)
    return client


_CLIENT_ATTRIBUTE = "_talowa_s3_client"
_client_lock = threading.Lock()


class _MultipartWriter:
    """Buffer writes into parts of ``PART_SIZE`` and upload each one."""

    def __init__(self, client, bucket: str, key: str, upload_id: str, name: str):
        self.client, self.bucket, self.key = client, bucket, key
        self.upload_id, self.name = upload_id, name
        self.buffer = bytearray()
        self.parts: list[dict] = []

    def write(self, data: bytes | memoryview) -> None:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            part = bytes(self.buffer[:PART_SIZE])
            del self.buffer[:PART_SIZE]
            self._upload(part)

    def _upload(self, data: bytes) -> None:
        number = len(self.parts) + 1
        with _s3_errors(self.name):
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
            )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def complete(self) -> None:
        if self.buffer or not self.parts:
            self._upload(bytes(self.buffer))
            self.buffer.clear()
        with _s3_errors(self.name):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )


class _S3Reader:
    """A ``read(n)`` stream over an S3 object body, with clear errors."""

    def __init__(self, stream, name: str) -> None:
        self.stream, self.name = stream, name

    def read(self, size: int = -1) -> bytes:
        with _s3_errors(self.name):
            return self.stream.read(None if size < 0 else size)


@contextlib.contextmanager
def _s3_errors(name: str) -> Iterator[None]:
    """Turn botocore's errors into ``StorageUnavailable`` naming the object."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        if code in {"NoSuchKey", "404"}:
            raise ObjectMissing(f"{name} is not in the backup storage") from exc
        if code in ACCESS_DENIED:
            raise StorageUnavailable(
                f"the backup storage refused access to {name} ({code}); check "
                "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy"
            ) from exc
        raise StorageUnavailable(f"the backup storage refused {name}: {code}") from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(
            f"the backup storage is unreachable while handling {name}: "
            f"{type(exc).__name__}; check AWS_S3_ENDPOINT_URL and the network"
        ) from exc
