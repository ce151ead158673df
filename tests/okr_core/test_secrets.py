"""Credentials at rest: encrypted, rotatable, and unreadable without the key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from okr_core.secrets import CredentialCipher, CredentialsUnreadable
from okr_core.settings import Settings

SECRET = {"api_token": "ATATT3xFfGF0-very-secret"}


def test_round_trip_hides_the_plaintext() -> None:
    cipher = CredentialCipher.from_settings(Settings(environment="test"))
    ciphertext = cipher.encrypt(SECRET)
    assert "very-secret" not in ciphertext
    assert cipher.decrypt(ciphertext) == SECRET


def test_old_ciphertexts_stay_readable_after_key_rotation() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = CredentialCipher.from_settings(
        Settings(environment="test", credentials_keys=SecretStr(old_key))
    )
    ciphertext = old.encrypt(SECRET)
    rotated_settings = Settings(
        environment="test", credentials_keys=SecretStr(f"{new_key},{old_key}")
    )
    rotated = CredentialCipher.from_settings(rotated_settings)
    assert rotated.decrypt(ciphertext) == SECRET
    re_encrypted = rotated.rotate(ciphertext)
    only_new = CredentialCipher.from_settings(
        Settings(environment="test", credentials_keys=SecretStr(new_key))
    )
    assert only_new.decrypt(re_encrypted) == SECRET
    with pytest.raises(CredentialsUnreadable) as excinfo:
        only_new.decrypt(ciphertext)
    assert "very-secret" not in str(excinfo.value)


def test_production_requires_explicit_keys() -> None:
    with pytest.raises(ValueError, match="OKR_CREDENTIALS_KEYS"):
        Settings(environment="production", secret_key=SecretStr("x" * 40))
