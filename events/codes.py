"""Invitation tokens and short codes (DESIGN.md §6) and the parser for what a scanner reads.

Token: 144 random bits, URL-safe (24 characters). Short code: 8 characters of Crockford's
base32 alphabet (no I, L, O, U), shown as XXXX-XXXX; typed input is normalised
(O→0, I/L→1, lower case, spaces and dashes ignored).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlparse

from django.conf import settings

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
TOKEN_BYTES = 18
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_code(raw: str) -> str | None:
    """Return the 8-character code, or None if the input cannot be a short code."""
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    cleaned = re.sub(r"[\s\-_.]", "", raw).upper().translate(_TRANSLATE)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def invitation_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/i/{token}"


def short_url(code: str) -> str:
    """The letter's address for typing (events.views_client.short_link): `/c/ABCD-EFGH`."""
    return f"{settings.PUBLIC_BASE_URL}/c/{format_code(code)}"


def parse_token(raw: str) -> str | None:
    """Accept a bare token or a full QR URL `{PUBLIC_BASE_URL}/i/{token}`.

    The URL's path must end in `/i/{token}`; its host and any path before it do not decide
    (the token is the 128-bit secret): a letter printed while `PUBLIC_BASE_URL` named another
    host, or a base URL with a path (`https://example.nl/markt`), still scans. Returns the
    token, or None when the input is not a token at all.
    """
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if not raw or len(raw) > 512:
        return None
    if "/" in raw or ":" in raw:
        parsed = urlparse(raw)
        if parsed.scheme not in {"http", "https"}:
            return None
        match = re.search(r"/i/([A-Za-z0-9_-]+)/?\Z", parsed.path)
        if not match:
            return None
        raw = match.group(1)
    return raw if _TOKEN_RE.match(raw) else None
