"""API key tokens: ``nx_<key id>_<secret>``, shown once, stored as a SHA-256 digest.

The secret is 32 random bytes (256 bits, URL-safe base64), so a plain
SHA-256 digest is enough to make the stored form useless to whoever reads the
database: there is nothing to brute-force that is smaller than the key space.
(Slow hashes such as scrypt exist for low-entropy passwords.) Digests are
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "nx_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class KeyToken:
    """A key as the client presents it, split into its id and its secret."""

    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"

    def __repr__(self) -> str:  # never print the secret by accident
        return f"KeyToken(key_id={self.key_id!r}, secret=<hidden>)"

    @property
    def digest(self) -> bytes:
        return hash_secret(self.secret)


def new_token() -> KeyToken:
    """A fresh key: a 12-hex-digit id and a 256-bit secret."""
    return KeyToken(secrets.token_hex(6), secrets.token_urlsafe(32))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def parse_token(text: str) -> KeyToken | None:
    """The token in ``text``, or None when it is not shaped like a Nexus key."""
    text = text.strip()
    if not text.startswith(PREFIX):
        return None
    key_id, sep, secret = text[len(PREFIX) :].partition("_")
    if not sep or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return KeyToken(key_id, secret)


def matches(token: KeyToken, stored_digest: bytes) -> bool:
    """Constant-time comparison of the token's digest with the stored one."""
    return hmac.compare_digest(token.digest, stored_digest)
