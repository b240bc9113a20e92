"""Secrets in text: which header values and URL parts are secrets, and redacting them.

Every message the engine writes (log lines, ``Alarm`` and give-up messages) quotes responses,
and a server may echo what it was sent. So the runners find the secrets a request carries (its
auth, secret-looking header values, a password in the URL; ``_sync.request_secrets``) and the
core replaces them with ``***`` in what it writes. Plain text work: no I/O library here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["basic_secrets", "redact", "secret_header_values", "tidy", "url_secrets"]

#: Header names whose values are secrets.
SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key|key$", re.I)
#: Shorter strings are not redacted: they would blank out ordinary words and numbers.
MIN_SECRET_LENGTH = 5
MASK = "***"


def secret_header_values(headers: Any) -> list[str]:
    """The values of headers whose names look secret (Authorization, cookies, API keys, tokens)."""
    if not isinstance(headers, Mapping):
        return []
    return [
        str(value) for name, value in headers.items() if value and SECRET_HEADER.search(str(name))
    ]


def basic_secrets(login: Any, password: Any) -> list[str]:
    """A Basic auth password, and the header value made from it."""
    if not password:
        return []
    token = f"{login or ''}:{password}".encode("latin1", "replace")
    return [str(password), base64.b64encode(token).decode()]  # the header value, should it echo


def url_secrets(url: Any) -> list[str]:
    """The password in a URL's user-info (requests sends it as Basic auth)."""
    if not isinstance(url, str) or "@" not in url:
        return []
    parts = urlsplit(url)
    return basic_secrets(parts.username, parts.password)


def tidy(secrets: Iterable[str]) -> tuple[str, ...]:
    """Distinct secrets long enough to redact, the longest first (so that a secret holding
    another is replaced whole)."""
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
    return tuple(sorted(kept, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (as made by ``tidy``) replaced by ``***``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
