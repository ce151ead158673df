"""Encryption of integration credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Keys come from ``OKR_CREDENTIALS_KEYS``: the first key encrypts, every key decrypts, so keys can
be rotated without a flag day (add a new first key, re-encrypt with :meth:`rotate`, then drop the
old key). Outside production a key is derived from the secret key so the demo needs no setup.
Plaintexts and keys never appear in errors or logs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from okr_core.errors import OkrError
from okr_core.settings import Settings


class CredentialsUnreadable(OkrError):
    status = 500
    code = "credentials_unreadable"


def derive_key(secret: str, *, purpose: str) -> bytes:
    """A Fernet key derived from a secret for one purpose (HKDF-SHA256)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(raw)


class CredentialCipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one credentials key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        configured = [
            key.strip().encode()
            for key in settings.credentials_keys.get_secret_value().split(",")
            if key.strip()
        ]
        if configured:
            return cls(configured)
        return cls(
            [derive_key(settings.secret_key.get_secret_value(), purpose="okr-credentials-v1")]
        )

    def encrypt(self, payload: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(payload, sort_keys=True).encode()).decode()

    def decrypt(self, ciphertext: str) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(ciphertext.encode()))
        except (InvalidToken, ValueError):
            raise CredentialsUnreadable(
                "stored credentials cannot be decrypted with the configured keys; "
                "check OKR_CREDENTIALS_KEYS or enter the credentials again"
            ) from None
        if not isinstance(value, dict):
            raise CredentialsUnreadable("stored credentials are malformed; enter them again")
        return value

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the current (first) key."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise CredentialsUnreadable(
                "stored credentials cannot be decrypted with the configured keys"
            ) from None
