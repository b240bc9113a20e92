"""Credentials in requests: bearer auth, finding the secrets a request carries, redacting them.

Every message the engine writes (log lines, ``Alarm`` and give-up messages) quotes responses,
and a server may echo what it was sent. So the engine finds the secrets a request carries (its
auth, secret-looking header values, a password in the URL) and replaces them with ``***`` in
what it writes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

__all__ = ["BearerAuth", "redact", "request_secrets", "secret_header_values"]

#: Header names whose values are secrets.
SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key|key$", re.I)
#: Shorter strings are not redacted: they would blank out ordinary words and numbers.
MIN_SECRET_LENGTH = 5
MASK = "***"


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def secret_header_values(headers: Any) -> list[str]:
    """The values of headers whose names look secret (Authorization, cookies, API keys, tokens)."""
    if not isinstance(headers, Mapping):
        return []
    return [
        str(value) for name, value in headers.items() if value and SECRET_HEADER.search(str(name))
    ]


def _basic(login: Any, password: Any) -> list[str]:
    if not password:
        return []
    token = f"{login or ''}:{password}".encode("latin1", "replace")
    return [str(password), base64.b64encode(token).decode()]  # the header value, should it echo


def auth_secrets(auth: Any) -> list[str]:
    """What a requests ``auth`` sends that must not be shown: a token, a password, and the
    ``Basic`` header value made from it."""
    if isinstance(auth, BearerAuth):
        return [auth.token] if auth.token else []
    if isinstance(auth, HTTPDigestAuth):
        return [auth.password] if auth.password else []
    if isinstance(auth, HTTPBasicAuth):
        return _basic(auth.username, auth.password)
    if isinstance(auth, tuple) and len(auth) == 2:
        return _basic(*auth)
    return []


def url_secrets(url: Any) -> list[str]:
    """The password in a URL's user-info (requests sends it as Basic auth)."""
    if not isinstance(url, str) or "@" not in url:
        return []
    parts = urlsplit(url)
    return _basic(parts.username, parts.password)


def request_secrets(
    request: requests.Request, session: requests.Session | None = None
) -> tuple[str, ...]:
    """The secrets ``request`` carries, with those the ``session`` adds to it."""
    found = [*url_secrets(request.url), *auth_secrets(request.auth)]
    found += secret_header_values(request.headers)
    if session is not None:
        found += auth_secrets(session.auth) + secret_header_values(session.headers)
    return tidy(found)


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
