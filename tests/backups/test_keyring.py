"""Parsing, secrecy and development fallback of the backup key ring."""

from __future__ import annotations

import base64
import logging
import pickle
import stat

import pytest

from backups import keyring as keyring_module
from backups.exceptions import KeyUnavailable
from backups.keyring import (
    KeyRing,
    format_key_spec,
    generate_key_spec,
    load_keyring,
    parse_backup_keys,
)

KEY1 = bytes(range(32))
KEY2 = bytes(range(50, 82))
SPEC1 = format_key_spec(key_id="k1", key=KEY1)
SPEC2 = format_key_spec(key_id="k2", key=KEY2)


def secret_forms(key: bytes) -> list[str]:
    """Return the textual forms a leaked key could take."""
    return [base64.b64encode(key).decode(), key.hex(), repr(key)]


def assert_no_secret(text: str, *keys: bytes) -> None:
    """Fail if any form of ``keys`` appears in ``text``."""
    for key in keys:
        for form in secret_forms(key):
            assert form not in text


def test_parse_keeps_order_and_ids():
    parsed = parse_backup_keys(f" {SPEC2} , {SPEC1},")
    assert parsed == [("k2", KEY2), ("k1", KEY1)]
    assert parse_backup_keys("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (base64.b64encode(KEY1).decode(), "has no ':'"),
        ("bad id:" + base64.b64encode(KEY1).decode(), "invalid key id"),
        ("k1:" + base64.b64encode(KEY1).decode()[:-3] + "!!=", "not valid base64"),
        ("k1:" + base64.b64encode(KEY1[:16]).decode(), "decodes to 16 bytes"),
        (f"{SPEC1},{SPEC1}", "listed twice"),
        ("x" * 65 + ":" + base64.b64encode(KEY1).decode(), "invalid key id"),
    ],
)
def test_parse_errors_are_clear_and_secret_free(text: str, message: str):
    with pytest.raises(ValueError, match=message) as caught:
        parse_backup_keys(text)
    assert_no_secret(str(caught.value), KEY1)
    assert base64.b64encode(KEY1[:16]).decode() not in str(caught.value)


def test_keyring_never_shows_key_bytes():
    ring = KeyRing([("k1", KEY1), ("k2", KEY2)])
    assert ring.primary_id == "k1"
    assert ring.ids == ("k1", "k2")
    assert ring.get("k2") == KEY2
    assert "k2" in ring
    assert len(ring) == 2
    for text in (repr(ring), str(ring), f"{ring}"):
        assert "k1" in text
        assert_no_secret(text, KEY1, KEY2)
    with pytest.raises(TypeError):
        pickle.dumps(ring)


def test_missing_key_names_the_id_and_what_to_do():
    ring = KeyRing([("k1", KEY1)])
    with pytest.raises(KeyUnavailable) as caught:
        ring.get("k2")
    assert str(caught.value) == (
        "backup key 'k2' is not configured; add it to TALOWA_BACKUP_KEYS"
    )
    assert caught.value.key_id == "k2"


@pytest.mark.parametrize(
    "entries",
    [[], [("k1", KEY1[:31])], [("k1", KEY1), ("k1", KEY2)], [("bad/id", KEY1)]],
)
def test_keyring_rejects_bad_entries(entries):
    with pytest.raises(ValueError) as caught:
        KeyRing(entries)
    assert_no_secret(str(caught.value), KEY1, KEY2)


def test_generated_spec_parses_back():
    key_id, key = parse_backup_keys(generate_key_spec("2026-11"))[0]
    assert key_id == "2026-11"
    assert len(key) == 32
    assert generate_key_spec("a") != generate_key_spec("a")


def test_configured_keys_win(tmp_path):
    ring = load_keyring(keys=[("k1", KEY1)], data_dir=tmp_path, environment="dev")
    assert ring.primary_id == "k1"
    assert not (tmp_path / "backup-dev.key").exists()


def test_production_without_keys_refuses(tmp_path):
    with pytest.raises(KeyUnavailable, match="set TALOWA_BACKUP_KEYS"):
        load_keyring(keys=[], data_dir=tmp_path, environment="production")
    assert not (tmp_path / "backup-dev.key").exists()


def test_dev_key_is_created_once_with_mode_0600(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(keyring_module, "_dev_warning_logged", False)
    data_dir = tmp_path / "data"
    with caplog.at_level(logging.WARNING, logger="backups.keyring"):
        first = load_keyring(keys=[], data_dir=data_dir, environment="development")
        second = load_keyring(keys=[], data_dir=data_dir, environment="development")
    path = data_dir / "backup-dev.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.primary_id == second.primary_id == "dev-1"
    assert first.get("dev-1") == second.get("dev-1")
    assert parse_backup_keys(path.read_text()) == [("dev-1", first.get("dev-1"))]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert_no_secret(warnings[0].getMessage(), first.get("dev-1"))
    assert "TALOWA_BACKUP_KEYS" in warnings[0].getMessage()


def test_broken_dev_key_file_is_reported(tmp_path):
    (tmp_path / "backup-dev.key").write_text(f"{SPEC1},{SPEC2}\n")
    with pytest.raises(KeyUnavailable, match="exactly one"):
        load_keyring(keys=[], data_dir=tmp_path, environment="development")


def test_settings_are_read_when_django_is_configured(tmp_path):
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings are not configured in this run")
    from django.test import override_settings

    with override_settings(TALOWA_BACKUP_KEYS=[("k9", KEY2)]):
        assert load_keyring().ids == ("k9",)
    dev = {"TALOWA_ENV": "development", "TALOWA_DATA_DIR": tmp_path}
    with override_settings(TALOWA_BACKUP_KEYS=[], **dev):
        assert load_keyring().primary_id == "dev-1"
    production = override_settings(TALOWA_BACKUP_KEYS=[], TALOWA_ENV="production")
    with production, pytest.raises(KeyUnavailable):
        load_keyring()
