"""The filesystem object store, also when its directory is a symbolic link."""

from __future__ import annotations

import pytest

from backups.exceptions import StorageUnavailable
from backups.storage import FileObjectStore


def test_a_store_reached_through_a_symbolic_link_lists_its_objects(tmp_path):
    real = tmp_path / "disk" / "backups"
    real.mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "backups").symlink_to(real)
    store = FileObjectStore("backups", tmp_path / "data" / "backups")
    store.put("archives/b1.tbk", b"one")
    store.put("archives/b1.tbk.key", b"key")
    (real / "archives" / "b2.tbk.partial-x").write_bytes(b"torn")
    assert store.list("archives") == ["archives/b1.tbk", "archives/b1.tbk.key"]
    assert store.get("archives/b1.tbk") == b"one"
    assert store.remove_partials("archives") == 1
    with pytest.raises(StorageUnavailable):
        store.get("../../outside")


def test_a_listing_of_at_most_some_names_gives_up_beyond_them(tmp_path):
    store = FileObjectStore("backups", tmp_path)
    for name in ("archives/b2.tbk", "archives/b1.tbk", "sidecar-copies/b1.key"):
        store.put(name, b"x")
    (tmp_path / "archives" / ".b3.tbk.partial-x").write_bytes(b"torn")

    assert store.list_at_most("archives/", 2) == ["archives/b1.tbk", "archives/b2.tbk"]
    assert store.list_at_most("archives/", 1) is None
    assert store.list_at_most("missing/", 0) == []


def test_partials_under_several_prefixes_are_removed_at_once(tmp_path):
    store = FileObjectStore("backups", tmp_path)
    for name in ("archives/b1.tbk", "sidecar-copies/b1.key", "staging/b1.tbk"):
        store.put(name, b"x")
        partial = tmp_path / name
        partial.with_name(f".{partial.name}.partial-x").write_bytes(b"torn")

    assert store.remove_partials("archives", "sidecar-copies", "") == 3
    assert store.remove_partials("archives", "sidecar-copies") == 0
    assert len(store.list("")) == 3  # the objects themselves stay
