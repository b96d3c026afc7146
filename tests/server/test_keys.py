"""The master key: sealing bound to the row, key files and variables, clear errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tokensim.server.config import MASTER_KEY_ENV
from tokensim.server.errors import MasterKeyError
from tokensim.server.keys import KEY_BYTES, MasterKey, load_master_key

KEY = MasterKey(bytes(range(32)))


def test_a_sealed_value_opens_only_for_its_own_row_and_column() -> None:
    blob = KEY.seal(b"card secret", "devices", "d1", "secrets")
    assert b"card secret" not in blob
    assert KEY.open(blob, "devices", "d1", "secrets") == b"card secret"
    for table, row, column in [
        ("devices", "d2", "secrets"),
        ("devices", "d1", "other"),
        ("outbox", "d1", "secrets"),
    ]:
        with pytest.raises(MasterKeyError, match="failed authentication"):
            KEY.open(blob, table, row, column)


def test_a_changed_blob_or_another_key_is_refused_with_the_key_id() -> None:
    blob = KEY.seal(b"x", "devices", "d1", "secrets")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(MasterKeyError):
        KEY.open(tampered, "devices", "d1", "secrets")
    other = MasterKey(bytes(32))
    with pytest.raises(MasterKeyError, match=f"sealed under master key {KEY.key_id}, not {other.key_id}"):
        other.open(blob, "devices", "d1", "secrets")
    with pytest.raises(MasterKeyError, match="not a sealed value"):
        KEY.open(b"\x01short", "devices", "d1", "secrets")


def test_two_seals_of_one_value_differ() -> None:
    assert KEY.seal(b"x", "t", "r", "c") != KEY.seal(b"x", "t", "r", "c")


def test_subkeys_differ_by_purpose_and_the_repr_hides_the_key() -> None:
    assert KEY.derive("a") != KEY.derive("b")
    assert bytes(range(32)).hex() not in repr(KEY)


def test_first_run_creates_a_private_key_file_and_later_runs_read_it(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    first = load_master_key(path, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(path, environ={}).key_id == first.key_id


def test_the_environment_variable_wins_in_hex_or_base64url(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    by_hex = load_master_key(path, environ={MASTER_KEY_ENV: bytes(range(32)).hex()})
    assert by_hex.key_id == KEY.key_id
    assert not path.exists()
    import base64

    text = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    assert load_master_key(path, environ={MASTER_KEY_ENV: text}).key_id == KEY.key_id


@pytest.mark.parametrize("value", ["zz", "00" * 16, "not base64 !"])
def test_a_malformed_variable_is_a_clear_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(MasterKeyError, match=MASTER_KEY_ENV):
        load_master_key(tmp_path / "k", environ={MASTER_KEY_ENV: value})


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(os.urandom(KEY_BYTES).hex())
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(path, environ={})


def test_a_missing_key_is_not_created_when_the_database_expects_one(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="no master key"):
        load_master_key(tmp_path / "master.key", environ={}, create=False)


def test_a_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(MasterKeyError, match="32 bytes"):
        MasterKey(bytes(16))
