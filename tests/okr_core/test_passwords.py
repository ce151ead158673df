"""Break-glass passwords are hashed with argon2id at its standard cost."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from okr_core import passwords


def test_production_hashes_are_argon2id_at_the_standard_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())
    hashed = passwords.hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_password(hashed, "correct horse battery staple")
    assert not passwords.verify_password(hashed, "wrong")
    assert not passwords.verify_password(None, "anything")
