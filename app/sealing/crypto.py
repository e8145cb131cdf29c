"""Envelope encryption: a random 256-bit key per user seals that user's free text (AES-GCM);
the deployment's data key (`STEPWISE_DATA_KEY`) wraps each user key for storage.

Every ciphertext is bound to where it belongs (its partner, user and kind, as AES-GCM's
associated data), so a sealed value copied to another user's row does not open there. Sealed
text is ASCII with a version prefix, so a value stored before sealing began reads as it is.
"""

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_NONCE_BYTES = 12
SEALED = "sw1:"  # a sealed text: SEALED + base64url(nonce + ciphertext + tag)


class Unreadable(Exception):
    """A sealed value that does not open with the key given (its key was replaced or erased)."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    padded = text.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(padded + "=" * (-len(padded) % 4))


def _context(kind: str, partner_id: int, user_id: str = "") -> bytes:
    return f"stepwise {kind}\0{partner_id}\0{user_id}".encode()


def _seal(key: bytes, plaintext: bytes, context: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return _encode(nonce + AESGCM(key).encrypt(nonce, plaintext, context))


def _open(key: bytes, sealed: str, context: bytes) -> bytes:
    try:
        raw = _decode(sealed)
        return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context)
    except (InvalidTag, ValueError, binascii.Error):
        raise Unreadable("the value does not open with this key") from None


def new_user_key() -> bytes:
    return os.urandom(KEY_BYTES)


def parse_key(text: str) -> bytes:
    """A data key written as base64 (standard or URL-safe, padded or not) of 32 random bytes,
    as `openssl rand -base64 32` prints one."""
    try:
        key = _decode(text)
    except (ValueError, binascii.Error):
        raise ValueError("a data key is base64 of 32 random bytes (openssl rand -base64 32)") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"a data key is base64 of 32 random bytes (openssl rand -base64 32), not {len(key)}")
    return key


class DataKeys:
    """The deployment's data keys: the first wraps new user keys; each unwraps what it wrapped
    (a wrapped key names its data key by a fingerprint), so a retired key can stay listed until
    `stepwise data-key rewrap` has wrapped everything under the new one."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("no data key")
        self._by_id = {self.fingerprint(key): key for key in keys}
        self.current = self.fingerprint(keys[0])

    @classmethod
    def parse(cls, listed: str) -> "DataKeys":
        """From `STEPWISE_DATA_KEY`: one key, or several separated by commas (the first wraps)."""
        return cls([parse_key(item) for item in listed.split(",") if item.strip()])

    @staticmethod
    def fingerprint(key: bytes) -> str:
        return hashlib.sha256(b"stepwise data key\0" + key).hexdigest()[:8]

    def wrap(self, user_key: bytes, *, partner_id: int, user_id: str) -> str:
        """`user_key`, wrapped for storage: the wrapping key's fingerprint, a dot, the sealed key."""
        sealed = _seal(self._by_id[self.current], user_key, _context("user key", partner_id, user_id))
        return f"{self.current}.{sealed}"

    def unwrap(self, wrapped: str, *, partner_id: int, user_id: str) -> bytes:
        fingerprint, _, sealed = wrapped.partition(".")
        key = self._by_id.get(fingerprint)
        if key is None:
            raise Unreadable(f"the user key is wrapped by data key {fingerprint}, which is not configured")
        return _open(key, sealed, _context("user key", partner_id, user_id))

    @property
    def fingerprints(self) -> list[str]:
        return list(self._by_id)

    def wrapped_by_current(self, wrapped: str) -> bool:
        return wrapped.partition(".")[0] == self.current


def seal_text(user_key: bytes, text: str, *, partner_id: int, user_id: str) -> str:
    return SEALED + _seal(user_key, text.encode(), _context("text", partner_id, user_id))


def open_text(user_key: bytes, value: str, *, partner_id: int, user_id: str) -> str:
    return _open(user_key, value[len(SEALED) :], _context("text", partner_id, user_id)).decode()


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(SEALED)


ANSWER = "sw1a:"  # a sealed answer: ANSWER + base64url(JSON list of its users) + "." + sealed body


def _joint_key(user_keys: Iterable[bytes]) -> bytes:
    """One key that only all of `user_keys` together give (in the order given)."""
    material = b"".join(user_keys)
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"stepwise answer").derive(material)


def seal_answer(user_keys: Mapping[str, bytes], body: str, *, partner_id: int) -> str:
    """A stored answer holding the text of the users of `user_keys`, sealed under a key that
    only all of theirs give: erasing any one of them leaves it unreadable."""
    users = sorted(user_keys)
    key = _joint_key(user_keys[user] for user in users)
    return f"{ANSWER}{_encode(orjson.dumps(users))}.{_seal(key, body.encode(), _context('answer', partner_id))}"


def answer_users(stored: str) -> list[str] | None:
    """The users whose keys open a sealed answer; None for an answer stored in clear."""
    if not stored.startswith(ANSWER):
        return None
    users = orjson.loads(_decode(stored[len(ANSWER) :].partition(".")[0]))
    assert isinstance(users, list)
    return [str(user) for user in users]


def open_answer(user_keys: Mapping[str, bytes], stored: str, *, partner_id: int) -> str:
    users = answer_users(stored)
    if users is None:
        return stored
    key = _joint_key(user_keys[user] for user in users)
    return _open(key, stored.partition(".")[2], _context("answer", partner_id)).decode()
