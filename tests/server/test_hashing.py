"""argon2id hashing of passwords and static codes."""

from __future__ import annotations

from tokensim.server.config import Argon2Params, ServerConfig
from tokensim.server.hashing import SecretHasher, token_digest

FAST = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)


def test_hashes_are_salted_argon2id_and_check_only_the_right_secret() -> None:
    hasher = SecretHasher(FAST)
    first, second = hasher.hash("hunter22"), hasher.hash("hunter22")
    assert first.startswith("$argon2id$")
    assert first != second
    assert hasher.verify(first, "hunter22")
    assert not hasher.verify(first, "hunter23")
    assert not hasher.verify("not a hash", "hunter22")


def test_an_unknown_user_is_checked_against_a_dummy_and_always_fails() -> None:
    hasher = SecretHasher(FAST)
    assert not hasher.verify(None, "tokensim-no-such-user")


def test_a_hash_made_with_other_parameters_needs_rehash() -> None:
    old = SecretHasher(FAST).hash("pw")
    assert SecretHasher(Argon2Params(time_cost=2, memory_kib=16, parallelism=1)).needs_rehash(old)
    assert not SecretHasher(FAST).needs_rehash(old)


def test_production_defaults_are_rfc_9106_strength() -> None:
    params = ServerConfig().argon2
    assert (params.time_cost, params.memory_kib) == (3, 65536)


def test_token_digest_is_sha256_hex() -> None:
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
