"""Secrets in text: which names hold secrets, every form a secret takes, and redacting them.

Every message the engine writes (log lines, ``Alarm``, give-up and error messages) may quote a
response, and a server may echo what it was sent: as is, JSON-escaped, percent-encoded, with its
whitespace folded, or as the ``Basic`` value made from it. So the runners find the secrets a
request carries (its auth, secret-looking header and query values, a password in the URL;
``_sync.request_secrets``), ``tidy`` expands each into the forms it may take, and every message
goes through ``scrub``: **redact first, then shorten**, so that no cut can fall inside a secret
and leave part of it. Plain text work: no I/O library here.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

__all__ = [
    "MASK",
    "basic_secrets",
    "is_secret_name",
    "mask_url_parts",
    "redact",
    "redact_exception",
    "scrub",
    "secret_forms",
    "secret_header_values",
    "secret_query_values",
    "shorten",
    "tidy",
    "url_secrets",
]

#: Header and query parameter names whose values are secrets (``X-Api-Key``, ``Authorization``,
#: ``X-Auth``, ``X-Session-Id``, ``access_token``, ``X-Amz-Signature``, ``sig``...).
SECRET_NAME = re.compile(
    r"key|token|secret|passw|pwd|auth|credential|session|cookie|signature|(?:^|[-_.])sig(?:$|[-_.])",
    re.IGNORECASE,
)
#: Shorter strings are not redacted: they would blank out ordinary words and numbers.
MIN_SECRET_LENGTH = 5
MASK = "***"


def is_secret_name(name: Any, extra: Iterable[str] = ()) -> bool:
    """Whether a header or query parameter called ``name`` carries a secret (``extra``: more
    names, lower-case, that a user marked as secret)."""
    text = str(name)
    return bool(SECRET_NAME.search(text)) or text.lower() in extra


def secret_header_values(headers: Any, extra: Iterable[str] = ()) -> list[str]:
    """The values of headers whose names look secret (or are named in ``extra``)."""
    if not isinstance(headers, Mapping):
        return []
    marked = frozenset(name.lower() for name in extra)
    return [
        value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for name, value in headers.items()
        if value and is_secret_name(name, marked)
    ]


def secret_query_values(url: Any, params: Any = None) -> list[str]:
    """The values of secret-looking query parameters, in ``url`` and in requests' ``params``."""
    found: list[str] = []
    if isinstance(url, str) and "?" in url:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=False)
        found += [value for name, value in pairs if is_secret_name(name)]
    if isinstance(params, Mapping):
        for name, value in params.items():
            if value is not None and is_secret_name(name):
                values = value if isinstance(value, list | tuple) else [value]
                found += [str(item) for item in values if item is not None]
    return found


def _base64(login: str, password: str, encoding: str) -> str | None:
    try:
        token = f"{login}:{password}".encode(encoding)
    except UnicodeEncodeError:
        return None
    return base64.b64encode(token).decode()


def _text(value: Any) -> str:
    """A credential as text: bytes (sent as they are) read as latin-1, as ``tidy`` reads them."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def basic_secrets(login: Any, password: Any) -> list[str]:
    """A Basic auth password, and the header value made from it, in each encoding a client may
    use (latin-1, as requests does where it can, and UTF-8)."""
    if not password:
        return []
    login, password = _text(login or ""), _text(password)
    values = [_base64(login, password, "latin-1"), _base64(login, password, "utf-8")]
    return [password, *(value for value in values if value)]


def url_secrets(url: Any) -> list[str]:
    """The password in a URL's user-info, as written and percent-decoded (requests decodes it
    and sends it as Basic auth), and the secret-looking query values."""
    found = secret_query_values(url)
    if not isinstance(url, str) or "@" not in url:
        return found
    try:
        parts = urlsplit(url)
        login, password = parts.username, parts.password
    except ValueError:  # a malformed netloc: take what stands between ':' and '@'
        userinfo = url.partition("://")[2].rpartition("@")[0]
        login, _, password = userinfo.partition(":")
    if not password:
        return found
    return [
        *found,
        *basic_secrets(login, password),
        *basic_secrets(unquote(login or ""), unquote(password)),
    ]


def _escape_variants(secret: str) -> set[str]:
    """How other languages' JSON and URL encoders write ``secret``."""
    ascii_json = json.dumps(secret)[1:-1]
    native_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    percent = quote(secret, safe="")
    return {
        ascii_json,
        native_json,
        json.dumps(native_json)[1:-1],  # escaped twice: a JSON body quoted in JSON
        native_json.replace("/", "\\/"),  # PHP escapes '/'
        ascii_json.replace("/", "\\/"),
        re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), ascii_json),  # Java
        native_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
        percent,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), percent),  # .NET: lower-case
        quote(secret),  # '/' kept
        quote(secret, safe="!'()*-._~"),  # JavaScript's encodeURIComponent
        quote_plus(secret),
        unquote(secret),
        unquote_plus(secret),
        repr(secret.encode("utf-8"))[2:-1],  # in the repr of bytes (response.content)
    }


def secret_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may come back in a body or a message: as is, with its
    whitespace folded, JSON-escaped (ASCII or not, as PHP, Java or Go write it, or twice),
    Python-escaped (in a ``repr`` of text or bytes, with either quote), HTML-escaped, and
    percent-encoded (upper or lower case, as Python, .NET or JavaScript write it) or decoded."""
    escaped = (
        secret.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    forms = {secret, " ".join(secret.split()), repr(secret)[1:-1], html.escape(secret)}
    forms |= {escaped, escaped.replace("'", "\\'"), escaped.replace('"', '\\"')}
    return forms | _escape_variants(secret)


def tidy(secrets: Iterable[Any]) -> tuple[str, ...]:
    """Every form of each secret long enough to redact, the longest first (so that a secret
    holding another is replaced whole). What ``redact`` and ``scrub`` take."""
    kept: set[str] = set()
    for secret in secrets:
        if isinstance(secret, bytes):
            secret = secret.decode("latin-1")
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
            kept |= {form for form in secret_forms(secret) if len(form) >= MIN_SECRET_LENGTH}
    return tuple(sorted(kept, key=lambda form: (-len(form), form)))  # the same in every process


#: No run of this many consecutive characters of a secret (in any of its forms) may show: a
#: secret a server cut, wrapped or escaped in a way no form foresaw still loses every such run.
RUN_LENGTH = 8
#: Longer texts are redacted by whole forms only (the run scan costs one lookup a character).
RUN_SCAN_LIMIT = 64 * 1024

# A password in any URL's user-info, and a secret-looking parameter anywhere a URL may carry
# one (query, fragment, path parameter), whoever wrote the text (requests, aiohttp, a server).
#: The user-info is found after its "://", whatever scheme comes before (a scheme matched first,
#: from every letter that might start one, took time growing with the square of a long run).
_USERINFO = re.compile(r"://([^/\s:@'\"<>]*):([^/\s@'\"<>]+)@")
_PARAMETER = re.compile(r"([?&;#])([A-Za-z0-9_.\-]+)=([^&;#\s'\"<>]+)")


def mask_url_parts(text: str) -> str:
    """``text`` with every URL's user-info password and secret-looking parameters as ``***``."""
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"://{m.group(1)}:{MASK}@", text)
    if "=" in text:
        text = _PARAMETER.sub(
            lambda m: (
                f"{m.group(1)}{m.group(2)}={MASK}" if is_secret_name(m.group(2)) else m.group(0)
            ),
            text,
        )
    return text


@functools.lru_cache(maxsize=256)
def _runs(secrets: tuple[str, ...]) -> frozenset[str]:
    """Every run of ``RUN_LENGTH`` characters of every form (shared by equal secret sets: the
    triggers of one connection hold one copy)."""
    return frozenset(
        form[i : i + RUN_LENGTH] for form in secrets for i in range(len(form) - RUN_LENGTH + 1)
    )


def _mask_runs(text: str, secrets: tuple[str, ...]) -> str:
    runs = _runs(secrets)
    if not runs or len(text) < RUN_LENGTH:
        return text
    spans: list[list[int]] = []
    for start in range(len(text) - RUN_LENGTH + 1):
        if text[start : start + RUN_LENGTH] in runs:
            end = start + RUN_LENGTH
            if spans and start <= spans[-1][1]:
                spans[-1][1] = end
            else:
                spans.append([start, end])
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], MASK]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _replace_forms(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every whole form in ``secrets`` replaced by ``***``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (as made by ``tidy``) replaced by ``***``, then any run
    of ``RUN_LENGTH`` characters of one of them too (texts up to ``RUN_SCAN_LIMIT``), and every
    URL's user-info password and secret-looking parameters."""
    text = _replace_forms(text, secrets)
    if secrets and len(text) <= RUN_SCAN_LIMIT:
        text = _mask_runs(text, secrets)
    return mask_url_parts(text)


def shorten(text: str, limit: int | None = None) -> str:
    """``text`` on one line, cut to ``limit`` characters. Only ever on redacted text: use
    ``scrub`` for anything that may hold a secret."""
    text = " ".join(text.split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def scrub(text: str, secrets: tuple[str, ...], limit: int | None = None) -> str:
    """The one way every message that may quote a secret is made: ``text`` on one line (a
    secret a server wrapped is whole again), redacted, and only then cut to ``limit``."""
    text = " ".join(text.split())
    text = _replace_forms(text, secrets)
    if limit is not None and len(text) > limit + RUN_LENGTH * 8:
        text = text[: limit + RUN_LENGTH * 8]  # what can show, and room for a run at its end
    return shorten(redact(text, secrets), limit)


def redact_exception(error: BaseException, secrets: tuple[str, ...]) -> BaseException:
    """``error`` (and the exceptions chained to it) with ``secrets`` redacted from its text.

    The exception keeps its class, so ``except`` clauses and ``ignore_exceptions`` still match.
    Its ``args`` and notes are redacted in place; a class whose ``str()`` is built from other
    attributes is given a ``str()`` of the redacted text.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _redact_one(current, secrets)
        current = current.__cause__ or current.__context__
    return error


#: An exception's text is cut to this, after redaction (it may quote a whole body).
EXCEPTION_TEXT_LIMIT = 4096


def _redact_one(error: BaseException, secrets: tuple[str, ...]) -> None:
    try:
        text = str(error)
    except Exception:
        text = ""
    clean = _redact_text(text, secrets)
    if error.args:
        error.args = tuple(_redact_arg(arg, secrets) for arg in error.args)
    for name in ("filename", "filename2", "strerror"):  # OSError builds its str() from these
        value = getattr(error, name, None)
        if isinstance(value, str):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(error, name, _redact_text(value, secrets))
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        # typeshed has __notes__ from Python 3.11 on; before, only exceptiongroup's backport sets it
        error.__notes__ = [_redact_text(str(note), secrets) for note in notes]  # type: ignore[attr-defined]
    for member in getattr(error, "exceptions", None) or ():  # an ExceptionGroup's members
        if isinstance(member, BaseException):
            redact_exception(member, secrets)
    if clean == text:
        return
    try:
        still = str(error)
    except Exception:
        still = text
    if _redact_text(still, secrets) != still:
        _force_str(error, clean)


def _redact_text(text: str, secrets: tuple[str, ...]) -> str:
    """Redacted, then cut to ``EXCEPTION_TEXT_LIMIT`` (line breaks kept: tracebacks show it)."""
    text = _replace_forms(text, secrets)
    if len(text) > EXCEPTION_TEXT_LIMIT:
        text = text[:EXCEPTION_TEXT_LIMIT] + "…"
    return redact(text, secrets)


def _redact_arg(arg: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(arg, str):
        return _redact_text(arg, secrets)
    try:
        text = repr(arg)
    except Exception:
        return type(arg).__name__
    return arg if redact(text, secrets) == text else _redact_text(str(arg), secrets)


def _force_str(error: BaseException, text: str) -> None:
    """Give ``error`` a ``str()`` of ``text``, keeping its class name and its bases."""
    cls = type(error)
    namespace = {"__str__": lambda self: text, "__module__": cls.__module__}
    try:
        redacted_cls = type(cls.__name__, (cls,), namespace)
        redacted_cls.__qualname__ = cls.__qualname__
        error.__class__ = redacted_cls
    except TypeError:  # built-in layouts refuse __class__ assignment: keep the args form
        error.args = (text,)
