"""Secrets in text: which names hold secrets, every form a secret takes, and redacting them.

Every message the engine writes (log lines, ``Alarm``, give-up and error messages) may quote a
response, and a server may echo what it was sent: as is, escaped or encoded by whatever its
language uses (JSON, HTML, percent, Python escapes, with any hex case and for any subset of the
characters), its bytes read in another charset, upper-cased, as base64 or hex, with its
whitespace folded, or as the ``Basic`` value made from it. So the runners find the secrets a
request carries (its auth, secret-looking header and query values, a password in the URL;
``_sync.request_secrets``), ``tidy`` expands each into the forms it may take, and every message
goes through ``scrub``: **redact first, then shorten**, so that no cut can fall inside a secret
and leave part of it. ``redact`` looks for runs of each form in the text as written and in a
decoded reading of it (escapes undone, case and whitespace folded), which catches the encoders
no form foresaw. Plain text work: no I/O library here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from html.entities import html5
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

from httsleep_airflow.exceptions import ConditionError

__all__ = [
    "MASK",
    "basic_secrets",
    "body_secrets",
    "covered",
    "holds_named_secret",
    "is_secret_name",
    "is_secret_parameter",
    "joined",
    "mask_url_parts",
    "masked_data",
    "masked_form",
    "masked_json",
    "masked_json_body",
    "multipart_secrets",
    "prepare",
    "redact",
    "redact_exception",
    "scrub",
    "secret_forms",
    "secret_header_values",
    "secret_query_values",
    "shorten",
    "shown_url",
    "tidy",
    "url_secrets",
]

#: Header and query parameter names whose values are secrets (``X-Api-Key``, ``Authorization``,
#: ``X-Auth``, ``X-Session-Id``, ``access_token``, ``X-Amz-Signature``, ``sig``, ``X-JWT``,
#: ``passphrase``, ``pass``, ``pw``, ``user[pw]``, ``X-Shopify-Hmac-Sha256``,
#: ``client_assertion``, ``otp``, ``pin``, ``sid``...). Not ``code`` nor ``ticket``: a job
#: API's data more often than an OAuth code or a CAS ticket.
SECRET_NAME = re.compile(
    r"key|token|secret|passw|passphrase|passcode|pwd|auth|credential|session|cookie|signature"
    r"|jwt|bearer|hmac|client_assertion"
    r"|(?:^|[-_.\[\]+ ])(?:sig|pass|pw|otp|pin|sid)(?:$|[-_.\[\]+ ])",
    re.IGNORECASE,
)
#: The short words of ``SECRET_NAME`` as a word of a camel-case name (``userPass``, ``adminPw``,
#: ``loginOtp``).
_CAMEL_SECRET = re.compile(
    r"(?<=[a-z0-9])(?:Pass|PASS|Pw|PW|Sig|SIG|Otp|OTP|Pin|PIN|Sid|SID)(?=$|[^a-z])"
)
#: Shorter strings are not redacted: they would blank out ordinary words and numbers.
MIN_SECRET_LENGTH = 5
MASK = "***"

# A password in any URL's user-info, and a secret-looking parameter anywhere a URL may carry
# one (query, fragment, path parameter), whoever wrote the text (requests, aiohttp, a server).
#: The user-info is found after its "://", whatever scheme comes before (a scheme matched first,
#: from every letter that might start one, took time growing with the square of a long run).
_USERINFO = re.compile(r"://([^/\s:@'\"<>]*)(?::([^/\s@'\"<>]*))?@")
#: A parameter's name is any run of what a query may carry up to its "="; its value runs to the
#: next "&" or "#", to a ";" or "?" that starts another parameter, or to a quote that closes
#: the URL (a quote the value goes on after is the value's: requests sends "'" as it is); a
#: colon before a space or the end is the text's, not the value's (a message's "URL: why").
_NAME = r"[^=&;?#\s\"<>]+"
_PARAMETER = re.compile(
    rf"([?&;#])({_NAME})=((?:[^&;?#\s'\"<>:]|:(?!\s|\Z)|[;?](?!{_NAME}=)"
    rf"|'(?=[^\s'\",)\]}}<>&;?#]))+)"
)


def is_secret_name(name: Any, extra: Iterable[str] = ()) -> bool:
    """Whether a header or query parameter called ``name`` carries a secret (``extra``: more
    names, lower-case, that a user marked as secret)."""
    text = _text(name)
    return bool(SECRET_NAME.search(text) or _CAMEL_SECRET.search(text)) or text.lower() in extra


def is_secret_parameter(name: Any) -> bool:
    """Whether a query parameter carries a secret, its ``name`` as written in a query
    (``api%5Fkey``, ``api+key``, ``auth[token]``): the name a server reads from it (decoded as
    ``parse_qsl`` decodes it) looks secret. The one rule for the values ``secret_query_values``
    finds and those ``mask_url_parts`` masks."""
    return is_secret_name(unquote_plus(_text(name)))


def _text(value: Any) -> str:
    """A credential as text: bytes (sent as they are) read as latin-1, as ``tidy`` reads them."""
    value = exact_text(value)
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def exact_text(value: Any) -> Any:
    """``value`` as the plain ``str`` or ``bytes`` it holds when it is one of a subclass (an
    enum member, say: its ``str()`` is its name, not the text it sends); anything else as it
    is."""
    if type(value) is str or type(value) is bytes:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes.__getitem__(value, slice(None))  # its bytes, whatever its __bytes__ says
    return value


def header_name(name: Any) -> str:
    """A header name as lower-case text, read by what it holds (``exact_text``): how a name a
    user marked secret, or an ``Authorization`` of the caller's own, is matched."""
    return str(exact_text(name)).lower()


def listed(values: Any) -> list[Any]:
    """Values given as a list, or one alone (a string is one value, not its letters); ``None``
    for none."""
    if values is None:
        return []
    return [values] if isinstance(values, str | bytes) else list(values)


def header_names(names: Any, what: str = "secret_headers") -> tuple[str, ...]:
    """``secret_headers`` (or the argument ``what`` names) as header names (``header_name``):
    a list or tuple of them, or one name alone (``"X-Tenant"`` is one name, not eight
    letters); ``None`` for none.

    :raises ConditionError: ``names`` is none of those, or holds something that is no text.
    """
    if names is None:
        return ()
    if isinstance(names, str | bytes):
        names = (names,)
    if not isinstance(names, list | tuple | set | frozenset) or not all(
        isinstance(exact_text(name), str | bytes) for name in names
    ):
        raise ConditionError(f"{what} must be a list of header names, not {names!r}")
    return tuple(
        header_name(name.decode("latin-1") if isinstance(name, bytes) else name) for name in names
    )


def _base64(login: str, password: str, encoding: str) -> str | None:
    try:
        token = f"{login}:{password}".encode(encoding)
    except UnicodeEncodeError:
        return None
    return base64.b64encode(token).decode()


def basic_secrets(login: Any, password: Any) -> list[str]:
    """What Basic credentials must not show: the password (or, when it is empty, the login,
    which is then the credential: an API key sent as the user name, as ``curl -u key:`` does),
    ``login:password`` (the header value decoded, as a server may echo it), and the header
    value made from both, in each encoding a client may use (latin-1, as requests does where
    it can, and UTF-8). Nothing when both are empty."""
    login, password = _text(login or ""), _text(password or "")
    credential = password or login
    if not credential:
        return []
    values = [_base64(login, password, "latin-1"), _base64(login, password, "utf-8")]
    pair = f"{login}:{password}" if login and password else None  # the header value decoded
    return list(dict.fromkeys([credential, *(value for value in (pair, *values) if value)]))


_BASIC = re.compile(r"\s*basic\s+([A-Za-z0-9+/=_-]+)\s*", re.IGNORECASE)


def _basic_value_secrets(value: str) -> list[str]:
    """The credentials inside an ``Authorization: Basic <base64>`` value a caller wrote."""
    match = _BASIC.fullmatch(value)
    if match is None:
        return []
    token = match.group(1).rstrip("=")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    login, _, password = text.partition(":")
    return basic_secrets(login, password)


_AUTHORIZATION = ("authorization", "proxy-authorization")
#: An ``Authorization`` value's scheme and credentials (``Token <key>``, ``Bearer <jwt>``).
_SCHEMED = re.compile(r"\s*[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*\s+(\S.*?)\s*")


def replaced(text: str, secrets: tuple[str, ...], by: str = MASK) -> str:
    """``text`` with each whole form in ``secrets`` replaced by ``by``, the longest first (as
    ``tidy`` orders them): a form holding another goes whole."""
    for form in secrets:
        if form in text:
            text = text.replace(form, by)
    return text


def covered(value: str, secrets: tuple[str, ...]) -> bool:
    """Whether ``value`` (a credential as sent) is made of ``secrets``' whole forms (as
    ``tidy`` made them): with each taken out, no piece of ``MIN_SECRET_LENGTH`` characters is
    left (a scheme word before it, ``Bearer``, is none), and one at least was in it.
    ``<key>.<signature>`` is not."""
    scheme = _SCHEMED.fullmatch(value)
    if scheme is not None:
        value = scheme.group(1)
    pieces = replaced(value, secrets, "\0").split("\0")
    return len(pieces) > 1 and all(len(piece.strip()) < MIN_SECRET_LENGTH for piece in pieces)


def secret_header_values(headers: Any, extra: Iterable[str] = ()) -> list[str]:
    """The values of headers whose names look secret (or are named in ``extra``), with the
    credentials after an ``Authorization`` scheme (``Token <key>``: the key alone), and
    inside a ``Basic`` value (``basic_secrets``); none of a ``Digest`` answer (its hash is
    masked wherever it shows, ``mask_url_parts``: its login, realm, nonce and path are no
    secret, and a secret made of them hid their words wherever a server echoed them)."""
    if not isinstance(headers, Mapping):
        return []
    marked = frozenset(name.lower() for name in extra)
    found: list[str] = []
    for name, value in headers.items():
        if value and is_secret_name(name, marked):
            text = _text(value)
            authorization = header_name(name) in _AUTHORIZATION
            if authorization and _DIGEST_SCHEME.match(text):
                continue
            found += [text, *_basic_value_secrets(text)]
            scheme = _SCHEMED.fullmatch(text) if authorization else None
            if scheme is not None:
                found.append(scheme.group(1))
    return found


#: A ``Digest`` answer.
_DIGEST_SCHEME = re.compile(r"\s*digest\s", re.IGNORECASE)


def _query_pairs(query: str) -> Iterator[tuple[str, str]]:
    """The ``(name, value)`` pairs of a query, as written, split as ``parse_qsl`` splits it."""
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if value:
            yield name, value


def _param_pairs(params: Any) -> Iterator[tuple[Any, Any]]:
    """requests' ``params`` as the ``(name, value)`` pairs it sends: a mapping or a list of
    pairs (a list or tuple value gives one pair an item), or a query as str or bytes."""
    if isinstance(params, str | bytes):
        for name, value in _query_pairs(_text(params)):
            yield name, unquote_plus(value)
        return
    if isinstance(params, Mapping):
        pairs: Iterable[Any] = params.items()
    elif isinstance(params, list | tuple):
        pairs = params
    else:
        return
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        name, value = pair
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                yield name, item


def _url_query(url: str) -> str:
    try:
        return urlsplit(url).query
    except ValueError:  # a malformed netloc: what follows the first '?'
        return url.partition("?")[2].partition("#")[0]


def secret_query_values(url: Any, params: Any = None) -> list[str]:
    """The values of secret-looking query parameters (``is_secret_parameter``): in ``url``
    (decoded and as written; in its query and wherever ``mask_url_parts`` finds a parameter),
    and in requests' ``params``, in any shape requests takes."""
    found: list[str] = []
    if isinstance(url, str) and "=" in url:
        pairs = [*_query_pairs(_url_query(url))]
        pairs += [(match.group(2), match.group(3)) for match in _PARAMETER.finditer(url)]
        for name, value in pairs:
            if is_secret_parameter(name):
                found += dict.fromkeys([unquote_plus(value), value])
    found += [_text(value) for name, value in _param_pairs(params) if is_secret_parameter(name)]
    return list(dict.fromkeys(found))


def body_secrets(data: Any = None, json_body: Any = None) -> list[str]:
    """The values of a request body's secret-looking fields: a form's (``data`` in any shape
    requests takes, its names read as ``secret_query_values`` reads a query's), and a JSON
    body's (``json_body``, or ``data`` holding JSON text: every text or number under a key
    ``is_secret_name`` finds, at any depth: ``{"client_secret": "s"}``,
    ``{"credentials": {"user": "u", "pw": "p"}}``); ``BODY_SECRETS_MAX`` of them, as ranked
    below (``{"client_secret": s, "keys": [<many>]}`` keeps ``s``)."""
    found = secret_query_values(None, data)
    # a list of many is data, not credentials: what is in none first, then what a secret name
    # in a list names itself ([{"password": p}]), then a list's items under one ({"keys": [...]})
    named: list[str] = []
    items: list[str] = []
    stack: list[tuple[Any, bool, bool]] = [
        (json_body, False, False),
        (_json_text(data), False, False),
        (_json_text(json_body), False, False),  # JSON text given as the body: sent as a JSON
        # string, its own text (and so its secrets) in it
    ]
    seen: set[tuple[int, bool]] = set()  # a body that holds itself: each part looked at once
    while stack:
        value, secret, in_list = stack.pop()
        if isinstance(value, Mapping | list | tuple):
            if (id(value), secret) in seen:
                continue
            seen.add((id(value), secret))
        if isinstance(value, Mapping):
            for key, child in value.items():
                if _is_scalar(child) and is_secret_name(key):
                    (named if in_list else found).append(_text(child))
                else:
                    stack.append((child, secret or is_secret_name(key), in_list))
        elif isinstance(value, list | tuple):
            stack += [(child, secret, True) for child in value]
        elif secret and _is_scalar(value):
            (items if in_list else found).append(_text(value))
    return list(dict.fromkeys([*found, *named, *items]))[:BODY_SECRETS_MAX]


#: The words of a field's name that make its value a credential however short (a PIN, a
#: one-time code): a request body holding one goes to no other origin (``_http.holds_secret``).
#: Narrower than ``SECRET_NAME``: ``author``, ``keyboard`` or ``session_count`` name data.
_SHORT_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "passcode", "pass", "pw", "pwd", "pin", "otp"}
    | {"secret", "token"}
)
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def holds_named_secret(text: str) -> bool:
    """Whether a request body, form or JSON text, has a field with a value whose name holds a
    word of ``_SHORT_SECRET_WORDS`` (``password``, ``client_secret``, ``userPin``, ``otp``),
    at any depth: a credential, however short."""

    def named(name: Any) -> bool:
        return any(word.lower() in _SHORT_SECRET_WORDS for word in _NAME_WORDS.findall(name))

    if any(named(unquote_plus(name)) for name, _ in _query_pairs(text)):
        return True
    stack = [_json_text(text)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _is_scalar(child) and child != "" and named(key):
                    return True
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return False


#: Of a body's secret-looking values, how many are secrets: every message is redacted of each
#: in all its forms, so their number bounds what a message costs. A body with more holds data
#: under a name that looks secret (``{"keys": [<a thousand object keys>]}``), not a thousand
#: credentials: a thousand held each trigger's loop seconds at every message.
BODY_SECRETS_MAX = 64


def multipart_secrets(files: Any) -> list[str]:
    """The values of a multipart body's secret-looking parts (requests' ``files``: a mapping or
    pairs of a name and a value, text, bytes or a ``(filename, content, ...)`` tuple), as a
    form's are found; a part whose content is a file object is not read."""
    if not files:
        return []
    pairs = files.items() if isinstance(files, Mapping) else files
    found: list[str] = []
    with contextlib.suppress(TypeError, ValueError):  # a shape requests would refuse too
        for name, value in pairs:
            content = value[1] if isinstance(value, tuple | list) and len(value) > 1 else value
            if is_secret_name(name) and isinstance(content, str | bytes):
                found.append(_text(content))
    return found


def _is_scalar(value: Any) -> bool:
    """Whether a JSON value is text or a number: what is sent of a secret field."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _json_text(data: Any) -> Any:
    """``data`` read as JSON when it is a body of JSON text (an object or an array), else
    ``None``."""
    if not isinstance(data, str | bytes):
        return None
    text = _text(data).lstrip().removeprefix("\ufeff").removeprefix("\xef\xbb\xbf").lstrip()
    if text[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def masked_data(data: Any) -> Any:
    """A request's ``data`` as it may be shown: a form's secret fields as ``masked_form``
    leaves them, JSON text with its secret values as ``***`` (``masked_json``)."""
    parsed = _json_text(data)
    return masked_form(data) if parsed is None else json.dumps(masked_json(parsed))


def masked_form(form: Any) -> Any:
    """A query or form (requests' ``params`` or ``data``, in any shape it takes) as it may be
    shown: a string with its secret values as ``***``, pairs without the secret ones."""
    if not secret_query_values(None, form):
        return form
    if isinstance(form, str | bytes):
        return mask_url_parts("?" + _text(form))[1:]
    pairs = form.items() if isinstance(form, Mapping) else form
    return {
        pair[0]: pair[1]
        for pair in pairs
        if isinstance(pair, list | tuple) and len(pair) == 2 and not is_secret_parameter(pair[0])
    }


def masked_json_body(body: Any) -> Any:
    """A request's ``json`` as it may be shown (``masked_json``); JSON text given as it (sent
    as a JSON string, its text whole) with its secret values as ``***``."""
    parsed = _json_text(body)
    return masked_json(body) if parsed is None else json.dumps(masked_json(parsed))


def masked_json(value: Any, secret: bool = False) -> Any:
    """A JSON body as it may be shown: each value ``body_secrets`` finds in it as ``***``."""
    if isinstance(value, Mapping):
        return {
            key: masked_json(child, secret or is_secret_name(key)) for key, child in value.items()
        }
    if isinstance(value, list | tuple):
        return [masked_json(child, secret) for child in value]
    return MASK if secret and _is_scalar(value) else value


def url_secrets(url: Any, *, proxy: bool = False) -> list[str]:
    """The credential in a URL's user-info (the password, or the login when there is none), as
    written and percent-decoded (requests decodes them and sends them as Basic auth), with
    its Basic values, and the secret-looking query values.

    :param proxy: ``url`` is a proxy's, which has no path: its user-info is also read as all
        that stands before its last ``@`` (a password holding an unencoded ``/``, ``?`` or
        ``#``, where a parser ends the user-info and quotes what is before as the host).
    """
    found = secret_query_values(url)
    if not isinstance(url, str) or "@" not in url:
        return found
    readings: list[tuple[Any, Any]] = []  # (login, password) as each reading finds them
    if proxy:
        lead = _URL_LEAD.match(url)
        readings.append(url[lead.end() if lead else 0 :].rpartition("@")[0].partition(":")[::2])
    if "//" not in url.partition("@")[0]:  # no scheme (a proxy's ``user:pass@host:port``):
        url = "//" + url  # urlsplit would read the login as the scheme and find no user-info
    try:
        parts = urlsplit(url)
        readings.append((parts.username, parts.password))
    except ValueError:  # a malformed netloc: take what stands before its last '@'
        authority = re.split(r"[/?#]", url.partition("//")[2], maxsplit=1)[0]
        readings.append(authority.rpartition("@")[0].partition(":")[::2])
    for login, password in readings:
        login, password = login or "", password or ""
        found += basic_secrets(login, password)
        found += basic_secrets(unquote(login), unquote(password))
    return found


#: What may start a URL, mistyped or not: a scheme and slashes (``https://``, ``http//``,
#: ``https:/``, ``http:\\``, ``//``). The user-info, if any, begins after it.
_URL_LEAD = re.compile(r"\s*(?:[a-z][a-z0-9+.\-]*:[/\\]+|https?[/\\]+|[/\\]+)?", re.IGNORECASE)


def shown_url(text: str) -> str:
    """``text`` (a URL, maybe mistyped) as a message may quote it: secret-looking parameters
    masked, and everything between its scheme and its last ``@`` as ``***``, however the
    user-info is written (a parser may not find it in a mistyped URL)."""
    if "@" in text:  # before the parameters are masked: a '@' may be in what they fold
        lead = _URL_LEAD.match(text)
        start = lead.end() if lead is not None else 0
        text = text[:start] + MASK + text[text.rindex("@") :]
    return redact(text, tidy(url_secrets(text)))


def _escape_variants(secret: str) -> set[str]:
    """How other languages' JSON, HTML and URL encoders write ``secret``."""
    ascii_json = json.dumps(secret)[1:-1]
    native_json = json.dumps(secret, ensure_ascii=False)[1:-1]
    percent = quote(secret, safe="")
    forms = {
        ascii_json,
        native_json,
        json.dumps(native_json)[1:-1],  # escaped twice: a JSON body quoted in JSON
        native_json.replace("/", "\\/"),  # PHP escapes '/'
        ascii_json.replace("/", "\\/"),
        re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), ascii_json),  # Java
        native_json.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
        html.escape(secret).replace("&#x27;", "&#39;").replace("&quot;", "&#34;"),  # Go
        percent,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), percent),  # .NET: lower-case
        quote(secret),  # '/' kept
        quote(secret, safe="!'()*-._~"),  # JavaScript's encodeURIComponent
        quote_plus(secret),
        unquote(secret),
        unquote_plus(secret),
        repr(secret.encode("utf-8", "surrogatepass"))[2:-1],  # in the repr of bytes
        ascii(secret)[1:-1],
    }
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(quote(secret, safe="", encoding="latin-1"))
    return forms


#: The encodings of a server that answers in UTF-16 or UTF-32 without saying so.
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def _byte_variants(secret: str) -> set[str]:
    """How ``secret`` shows when its bytes are read or written as other text: UTF-8 read as
    latin-1 (what requests and aiohttp do with text sent without a charset), latin-1 bytes
    read as UTF-8, UTF-16 and UTF-32 bytes read as either (a NUL beside each ASCII character:
    what requests shows of a JSON body in UTF-16 without a charset), their ``repr``, hex, and
    base64 (of the secret alone, and the characters that stay the same wherever it sits in a
    longer value, at each of the three alignments)."""
    forms: set[str] = set()
    for wide in _WIDE:
        data = secret.encode(wide, "surrogatepass")
        forms |= {data.decode("latin-1").strip("\0"), data.decode("utf-8", "replace").strip("\0")}
    for encoding in ("utf-8", "latin-1"):
        try:
            data = secret.encode(encoding)
        except UnicodeEncodeError:
            continue
        other = "latin-1" if encoding == "utf-8" else "utf-8"
        with contextlib.suppress(UnicodeDecodeError):
            forms.add(data.decode(other))
        forms |= {repr(data)[2:-1], data.hex(), data.hex().upper(), base64.b64encode(data).decode()}
        for skip in range(3):
            whole = data[skip:][: (len(data) - skip) // 3 * 3]
            forms.add(base64.b64encode(whole).decode())
    return forms | {form.replace("+", "-").replace("/", "_") for form in forms}


def secret_forms(secret: str) -> frozenset[str]:
    """``_forms``, worked out once per secret of up to ``FORMS_KEPT_UP_TO`` characters (kept as
    ``_patterns`` keeps them): every sleeper of a connection holds its credentials, and
    thousands of triggers build one each on one loop."""
    return _kept_forms(secret) if len(secret) <= FORMS_KEPT_UP_TO else _forms(secret)


#: The longest secret whose forms are kept for the next sleeper (its forms take about a hundred
#: times its length).
FORMS_KEPT_UP_TO = 1024


def _forms(secret: str) -> frozenset[str]:
    """Every form in which ``secret`` may come back in a body or a message: as is, with its
    whitespace folded, upper- or lower-cased, NFC or NFD, JSON-escaped (ASCII or not, as PHP,
    Java or Go write it, or twice), Python-escaped (in a ``repr`` or ``ascii`` of text or
    bytes, with either quote), HTML-escaped, percent-encoded (UTF-8 or latin-1, upper or lower
    case, as Python, .NET or JavaScript write it) or decoded, its bytes read in the other
    charset, in hex and in base64. ``redact`` also reads a text decoded, for the encoders
    these exact forms miss."""
    escaped = (
        secret.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    forms = {secret, " ".join(secret.split()), repr(secret)[1:-1], html.escape(secret)}
    forms |= {escaped, escaped.replace("'", "\\'"), escaped.replace('"', '\\"')}
    forms |= {secret.upper(), secret.lower()}  # "ß" is "SS", "İ" is "i̇": folding misses them
    forms |= {unicodedata.normalize("NFC", secret), unicodedata.normalize("NFD", secret)}
    return frozenset(forms | _escape_variants(secret) | _byte_variants(secret))


_kept_forms = functools.lru_cache(maxsize=512)(_forms)


def tidy(secrets: Iterable[Any], *, deep: bool = True) -> tuple[str, ...]:
    """Every form of each secret long enough to redact, the longest first (so that a secret
    holding another is replaced whole). What ``redact`` and ``scrub`` take.

    :param deep: the forms of each form too (``_deep_forms``); without, the forms alone (what
        Airflow's masker takes: it compiles a pattern of all it holds at each new one)."""
    texts = []
    for secret in secrets:
        secret = exact_text(secret)
        if isinstance(secret, bytes):
            secret = secret.decode("latin-1")
        if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
            texts.append(secret)
    if sum(map(len, texts)) <= 4 * FORMS_KEPT_UP_TO:  # most: a connection's, shared by its
        return _kept_tidy(tuple(texts), deep)  # sleepers (one copy of their forms for all)
    return _tidy(tuple(texts), deep)


def _tidy(texts: tuple[str, ...], deep: bool = True) -> tuple[str, ...]:
    forms = _deep_forms if deep else secret_forms
    kept = {form for text in texts for form in forms(text) if len(form) >= MIN_SECRET_LENGTH}
    return tuple(sorted(kept, key=lambda form: (-len(form), form)))  # the same in every process


_kept_tidy = functools.lru_cache(maxsize=64)(_tidy)

#: Secrets up to this long have the forms of their forms redacted too; longer ones (their
#: forms' forms take seconds to work out) their forms.
DEEP_FORMS_UP_TO = 1024


def _deep_forms(secret: str) -> frozenset[str]:
    """``secret_forms`` of ``secret``, and of each of them: a secret a server echoes encoded
    twice (a form body percent-encodes it, then the echo is base64; base64 of base64). Worked
    out once per secret: ``tidy``'s own output is only ever ``joined``, never expanded again."""
    forms = secret_forms(secret)
    if len(secret) > DEEP_FORMS_UP_TO:
        return forms
    return forms.union(
        *(
            secret_forms(form)
            for form in forms
            # a wide form's (UTF-16, UTF-32) are no text a server writes: redaction finds
            # those in a text read without its NULs
            if form != secret and len(form) >= MIN_SECRET_LENGTH and "\0" not in form
        )
    )


def joined(*tidied: tuple[str, ...]) -> tuple[str, ...]:
    """Secrets ``tidy`` made, together, in its order: not expanded again (``tidy`` worked out
    each secret's forms, and theirs, already; a third level is no form a server writes)."""
    return tuple(sorted(set().union(*tidied), key=lambda form: (-len(form), form)))


#: No run of this many consecutive characters of a secret (in any of its forms) may show: a
#: secret a server cut, wrapped or escaped in a way no form foresaw still loses every such run.
RUN_LENGTH = 8
#: Longer texts are redacted by whole forms only (the run scan costs one lookup a character).
RUN_SCAN_LIMIT = 64 * 1024


#: A Digest answer's ``response`` field and its hash (hex of MD5 to SHA-512, either case),
#: quoted or not, its quote escaped or not (an answer echoed inside JSON).
_DIGEST_HASH = re.compile(
    r"""(\bresponse=(?:\\*["'])?)[0-9a-f]{32,128}(?![0-9a-z])""", re.IGNORECASE
)


def _mask_userinfo(match: re.Match[str]) -> str:
    login, password = match.group(1), match.group(2)
    if password:
        return f"://{login}:{MASK}@"
    return f"://{MASK}@" if login else match.group(0)  # no password: the login is the credential


def mask_url_parts(text: str) -> str:
    """``text`` with every URL's user-info credential (its password, or its login when it has
    none) and secret-looking parameters (``is_secret_parameter``) as ``***``, and a Digest
    answer's ``response`` hash (made from the password: a server may echo the answer)."""
    if "@" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    if "=" in text:
        text = _DIGEST_HASH.sub(rf"\g<1>{MASK}", text)
        text = _PARAMETER.sub(
            lambda m: (
                f"{m.group(1)}{m.group(2)}={MASK}"
                if is_secret_parameter(m.group(2))
                else m.group(0)
            ),
            text,
        )
    return text


# --- the decoded reading of a text -------------------------------------------------------------

#: The escapes a server's encoder may write: percent (``%FC``, ``%c3%bc``, JavaScript's
#: ``%u00FC``), JSON, Java and Python backslash escapes (a surrogate pair first), and HTML
#: character references. A run of escaped bytes is one match: its UTF-8 is read as such, and a
#: byte that is not UTF-8 as latin-1 (``%FC``, ``\\xfc``).
_ESCAPE = re.compile(
    r"(?:%u|\\u)[Dd][89ABab][0-9A-Fa-f]{2}(?:%u|\\u)[Dd][C-Fc-f][0-9A-Fa-f]{2}"
    r"|%u[0-9A-Fa-f]{4}|(?:%[0-9A-Fa-f]{2})+|(?:\\x[0-9A-Fa-f]{2})+"
    r"|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|\\[\\/'\"nrtbf]"
    r"|&#[Xx][0-9A-Fa-f]{1,6};|&#[0-9]{1,7};|&[A-Za-z][A-Za-z0-9]{1,31};"
)
#: The same, but any punctuation or space escaped with a backslash first (a regular
#: expression's, a shell's): a second reading of a text, as ``\\%41`` is either.
_BACKSLASHED = re.compile(r"\\[ !-/:-@\[-`{-~]|" + _ESCAPE.pattern)
#: The longest writing of one character: four bytes written one by one, each in up to eight
#: (``'0xf0', '0x9f', '0x98', '0x80', ``); a decoded run of ``RUN_LENGTH`` spans at most this
#: many times as many characters of the text (but for long named references, which no encoder
#: writes for the characters of a secret).
_LONGEST_ESCAPE = 32
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
#: What the decoded reading ignores: case (``İ`` first, whose lower case is two characters),
#: which whitespace it is, and "+" for a space (form encoding).
_FOLD = {ord(char): " " for char in map(chr, range(0x3001)) if char.isspace()}
_FOLD |= {0x130: "i", ord("+"): " "}


def _unescape(token: str) -> list[tuple[str, int]]:
    """The characters an ``_ESCAPE`` match stands for, each with how many characters of the
    match write it (0: written with the one before; no characters: it is no escape)."""
    if token.startswith(("%u", "\\u", "\\U", "&#")):
        if token[1] == "u" and len(token) == 12:  # a UTF-16 surrogate pair
            high, low = int(token[2:6], 16), int(token[8:], 16)
            code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        elif token[0] == "&":
            code = int(token[3:-1], 16) if token[2] in "xX" else int(token[2:-1])
        else:
            code = int(token[2:], 16)
        return [(chr(code), len(token))] if code <= 0x10FFFF else []
    if token[0] == "&":
        chars = html5.get(token[1:], "")
        return [(char, len(token) if i == 0 else 0) for i, char in enumerate(chars)]
    if len(token) == 2:  # "\\n", or punctuation escaped (``_BACKSLASHED``)
        return [(_SIMPLE_ESCAPES.get(token[1], token[1]), 2)]
    unit = 3 if token[0] == "%" else 4  # escaped bytes: "%FC" or "\\xfc"
    data = bytes.fromhex(token.replace("%", "").replace("\\x", ""))
    return _utf8_chars(data, [unit] * len(data))


#: A separator between bytes written one by one: ", " (a list), or one of `` :;.-_``.
_SEPARATOR = r"[\s,;:.\-_'\"]{1,4}"
#: Bytes written one by one, each in hex with a prefix (``0x74, 0x6f``, ``'0x74', '0x6f'``,
#: ``=74=6F`` as quoted-printable writes them, ``\x74 \x6f``) or bare between separators
#: (``74 6f``, ``74:6F``, Go's ``% x``, ``["74", "6f"]``, xxd's ``746f 6b65``), or in octal
#: escapes (``\164\157``).
_HEX_BYTES = re.compile(
    rf"(?:(?:0[xX]|\\x|=)[0-9A-Fa-f]{{2}}(?:{_SEPARATOR})?){{4,}}(?:0[xX]|\\x|=)[0-9A-Fa-f]{{2}}"
    rf"|(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{{2}}){{1,4}}(?:{_SEPARATOR}(?:[0-9A-Fa-f]{{2}}){{1,4}}){{2,}}"
    r"(?![0-9A-Za-z])"
    r"|(?:\\[0-3][0-7]{2}){5,}"
)
_HEX_BYTE = re.compile(r"(?<=\\)[0-3][0-7]{2}|[0-9A-Fa-f]{2}")
#: Bytes written one by one in decimal (a Buffer's JSON, Java's ``Arrays.toString`` with its
#: signed bytes, ``116 111``, ``116:111``); a number past a byte is none, and ends no run.
_DECIMAL_BYTES = re.compile(r"(?<![\d.])(?:-?\d{1,3}[\s,;:]{1,3}){4,}-?\d{1,3}(?![\d.])")
_DECIMAL_BYTE = re.compile(r"-?\d{1,3}")


def _bytes_unescaped(token: str, byte: re.Pattern[str], base: int) -> list[tuple[str, int]]:
    """The characters a run of bytes written one by one stands for (a ``_HEX_BYTES`` or
    ``_DECIMAL_BYTES`` match: ``byte`` finds each, in ``base``; three digits after a backslash
    in octal; a signed byte, -128 to -1, as Java writes one), each with how many characters of
    the run write it (a byte's separator is its). A number that is no byte stands for U+FFFD,
    between the bytes before and after it."""
    found = list(byte.finditer(token))
    if not found:
        return []
    starts = [match.start() for match in found]
    widths = [end - start for start, end in zip(starts, [*starts[1:], len(token)], strict=True)]
    widths[0] += starts[0]  # the first byte's prefix
    chars: list[tuple[str, int]] = []
    data, data_widths = bytearray(), []
    for match, width in zip(found, widths, strict=True):
        text = match.group()
        value = int(text, 8 if len(text) == 3 and base == 16 else base)
        if -0x80 <= value < 0:
            value += 0x100
        if 0 <= value <= 0xFF:
            data.append(value)
            data_widths.append(width)
            continue
        chars += [*_utf8_chars(bytes(data), data_widths), ("\ufffd", width)]
        data, data_widths = bytearray(), []
    return chars + _utf8_chars(bytes(data), data_widths)


def _utf8_chars(data: bytes, widths: list[int]) -> list[tuple[str, int]]:
    """``data`` as characters, each with the sum of its bytes' ``widths``: UTF-8 read as such,
    and a byte that is not UTF-8 as latin-1 (``%FC``, ``\\xfc``)."""
    chars: list[tuple[str, int]] = []
    at = 0
    for char in data.decode("utf-8", "surrogateescape"):
        if 0xDC80 <= ord(char) <= 0xDCFF:  # not UTF-8: the byte, read as latin-1
            char, size = chr(ord(char) - 0xDC00), 1
        else:
            size = len(char.encode())
        chars.append((char, sum(widths[at : at + size])))
        at += size
    return chars


#: A character of UTF-16 or UTF-32 text read a byte at a time (``_WIDE``): it, and the NULs of
#: its other bytes (the NULs before the first, in big-endian text, stay in the reading).
_WIDE_CHAR = re.compile(r"[^\0]\0{1,3}")


def _wide_unescaped(token: str) -> list[tuple[str, int]]:
    return [(token[0], len(token))]


def _hex_unescaped(token: str) -> list[tuple[str, int]]:
    return _bytes_unescaped(token, _HEX_BYTE, 16)


def _decimal_unescaped(token: str) -> list[tuple[str, int]]:
    return _bytes_unescaped(token, _DECIMAL_BYTE, 10)


def _decoded(
    text: str,
    escape: re.Pattern[str] = _ESCAPE,
    unescape: Callable[[str], list[tuple[str, int]]] = _unescape,
) -> tuple[str, list[int] | None, list[int] | None]:
    """``text`` read decoded, case and whitespace folded, with where each of its characters
    starts and ends in ``text`` (``None``: where it stands, nothing was decoded)."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    last = 0
    for match in escape.finditer(text):
        chars = unescape(match.group())
        if not chars:
            continue
        at = match.start()
        pieces.append(text[last:at])
        starts += range(last, at)
        ends += range(last + 1, at + 1)
        for char, width in chars:
            if width:
                first, at = at, at + width
            pieces.append(char)
            starts.append(first)
            ends.append(at)
        last = match.end()
    if not pieces:
        return text.translate(_FOLD).lower(), None, None
    pieces.append(text[last:])
    starts += range(last, len(text))
    ends += range(last + 1, len(text) + 1)
    return "".join(pieces).translate(_FOLD).lower(), starts, ends


def _runs_of(forms: Iterable[str]) -> frozenset[str]:
    return frozenset(
        form[i : i + RUN_LENGTH] for form in forms for i in range(len(form) - RUN_LENGTH + 1)
    )


class _Patterns(NamedTuple):
    """What redaction looks for beyond the whole forms (``_mask_runs``, ``_replace_forms``)."""

    runs: frozenset[str]  #: every run of ``RUN_LENGTH`` characters of every form
    decoded_runs: frozenset[str]  #: the runs of each form read decoded
    short: tuple[str, ...]  #: the decoded forms too short to have a run, found whole
    short_bytes: tuple[bytes, ...]  #: the bytes of forms too short for their base64 forms
    #: the base64 of each whole three bytes of those (either alphabet): one is in any base64
    #: that holds one of them whole, wherever it sits
    cores: tuple[str, ...]


def prepare(secrets: tuple[str, ...]) -> None:
    """Work out what redaction looks for in ``secrets`` (as ``tidy`` made them) now, not at the
    first message: its time grows with the secrets (a request body with a thousand
    secret-looking values takes seconds), so the async runner's callers do it off the loop."""
    if secrets:
        _patterns(secrets)


@functools.lru_cache(maxsize=256)
def _patterns(secrets: tuple[str, ...]) -> _Patterns:
    """What redaction looks for beyond the whole forms, shared by equal secret sets (the
    triggers of one connection hold one copy); each form is read as written and decoded (a
    text's escapes are undone once)."""
    narrow = [form for form in secrets if "\0" not in form]  # the wide forms are found whole
    # (their runs hold half as many characters or fewer), and read in a text without its NULs
    readings = {
        reading for form in narrow for reading in (_decoded(form)[0], form.translate(_FOLD).lower())
    }
    readings = {reading for reading in readings if len(reading) >= MIN_SECRET_LENGTH}
    short = tuple(sorted(reading for reading in readings if len(reading) < RUN_LENGTH))
    short_bytes = {
        data
        for form in secrets
        for encoding in ("utf-8", "latin-1")
        if len(data := form.encode(encoding, "ignore")) < BASE64_WHOLE
    }
    cores = {
        form
        for data in short_bytes
        for skip in range(3)
        for core in [base64.b64encode(data[skip : skip + 3]).decode()]
        for form in (core, core.replace("+", "-").replace("/", "_"))
    }
    return _Patterns(
        _runs_of(narrow),
        _runs_of(readings),
        short,
        tuple(sorted(short_bytes, key=len)),
        tuple(sorted(cores)),
    )


#: A secret of fewer bytes than this has, at some place in a longer base64 value, fewer than
#: ``MIN_SECRET_LENGTH`` characters that do not depend on its neighbours: such base64 is
#: decoded to be searched (``_base64_spans``).
BASE64_WHOLE = 8
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{7,}")


def _base64_spans(
    text: str, secrets: tuple[bytes, ...], cores: tuple[str, ...]
) -> list[tuple[int, int]]:
    """Where ``text`` holds base64 (either alphabet, from any of its first four characters)
    whose bytes hold one of ``secrets``: the whole run of base64 characters. Only a run that
    holds one of their ``cores`` is decoded (none, in most texts: a few searches)."""
    spans: list[tuple[int, int]] = []
    if not any(core in text for core in cores):
        return spans
    for match in _BASE64_RUN.finditer(text):
        run = match.group()
        if not any(core in run for core in cores):
            continue
        run = run.replace("-", "+").replace("_", "/")
        for skip in range(4):
            chunk = run[skip:]
            rest = len(chunk) % 4
            chunk = chunk[:-1] if rest == 1 else chunk + "=" * (-rest % 4)
            try:
                data = binascii.a2b_base64(chunk)
            except binascii.Error:
                continue
            if any(secret in data for secret in secrets):
                spans.append(match.span())
                break
    return spans


def _run_spans(text: str, runs: frozenset[str]) -> list[tuple[int, int]]:
    """Where ``text`` holds a run of ``runs``, overlapping runs joined."""
    spans: list[list[int]] = []
    for start in range(len(text) - RUN_LENGTH + 1):
        if text[start : start + RUN_LENGTH] in runs:
            end = start + RUN_LENGTH
            if spans and start <= spans[-1][1]:
                spans[-1][1] = end
            else:
                spans.append([start, end])
    return [(start, end) for start, end in spans]


def _mask_runs(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every run of a form, as written or read decoded, as ``***``."""
    if not secrets or len(text) < MIN_SECRET_LENGTH:
        return text
    runs, decoded_runs, short, _, _ = _patterns(secrets)
    spans = _run_spans(text, runs)
    grammars = [(_ESCAPE, _unescape)]
    if "\\" in text:
        grammars.append((_BACKSLASHED, _unescape))
    grammars += [
        (grammar, unescape)
        for grammar, unescape in (
            (_HEX_BYTES, _hex_unescaped),
            (_DECIMAL_BYTES, _decimal_unescaped),
            (_WIDE_CHAR, _wide_unescaped),
        )
        if grammar.search(text)  # most texts have none: no reading of them
    ]
    for grammar, unescape in grammars:
        reading, starts, ends = _decoded(text, grammar, unescape)
        found = _run_spans(reading, decoded_runs)
        for form in short:
            at = reading.find(form)
            while at >= 0:
                found.append((at, at + len(form)))
                at = reading.find(form, at + 1)
        if starts is None or ends is None:
            spans += found
        else:
            spans += [(starts[start], ends[end - 1]) for start, end in found]
    return _masked(text, spans)


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of ``spans`` (``(start, end)``, overlapping or not) as ``***``."""
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start > last or not pieces:
            pieces += [text[last:start], MASK]
        last = max(last, end)
    pieces.append(text[last:])
    return "".join(pieces)


def _replace_forms(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every whole form in ``secrets`` replaced by ``***``, and first, in its
    first ``RUN_SCAN_LIMIT`` characters, any base64 that holds a secret too short for its
    base64 forms (before a form found in it cuts it)."""
    patterns = _patterns(secrets) if secrets else None
    if patterns is not None and patterns.short_bytes:
        head = text[:RUN_SCAN_LIMIT]
        spans = _base64_spans(head, patterns.short_bytes, patterns.cores)
        text = _masked(head, spans) + text[len(head) :]
    return replaced(text, secrets)


#: How far past a cut a text is redacted, so that a run of a secret that the cut would end,
#: however it is escaped, is still whole where it is judged.
_RUN_ROOM = RUN_LENGTH * _LONGEST_ESCAPE
#: What a cut text is redacted from at most: however much redaction shrinks it, what shows of
#: a message comes from its first characters, and the work stays bounded whatever was sent.
HEAD_LIMIT = 4 * RUN_SCAN_LIMIT
#: How many times the characters that show a cut text is read at most to find them.
_WINDOWS = 4


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` (as made by ``tidy``) replaced by ``***``, then any run
    of ``RUN_LENGTH`` characters of one of them too, as written or in the text read decoded
    (texts up to ``RUN_SCAN_LIMIT``), and every URL's user-info credential and secret-looking
    parameters."""
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
    if limit is None:
        return shorten(redact(_replace_forms(" ".join(text.split()), secrets), secrets))
    head = " ".join(text[:HEAD_LIMIT].split())
    return shorten(_redact_head(head, secrets, limit, cut=len(text) > HEAD_LIMIT), limit)


def _redact_head(text: str, secrets: tuple[str, ...], limit: int, cut: bool = False) -> str:
    """``text`` redacted as far as its first ``limit`` characters will show: its first
    ``HEAD_LIMIT`` characters with every whole form replaced, then a cut with room past the
    limit for a run that the cut ends (its last ``_RUN_ROOM`` characters are not judged
    whole), cut later on if redaction shrank it so much that this room would show; ``cut``:
    ``text`` is already the start of a longer one."""
    cut = cut or len(text) > HEAD_LIMIT
    text = _replace_forms(text[:HEAD_LIMIT], secrets)
    keep = limit + _RUN_ROOM
    window = keep
    shown = None
    # a text that redaction shrinks (a secret echoed over and over) is read no further than
    # _WINDOWS times what shows: reading escapes costs per character, and a server chose it
    while len(text) > window and window < min(HEAD_LIMIT, keep * _WINDOWS):
        shown = redact(text[:window], secrets)
        if len(shown) >= keep:
            break
        shown, window = None, window * 2
    if shown is None:
        ended = len(text) > window
        if ended:
            text, cut = text[:window], True
        shown = redact(text, secrets)
        if ended:  # the start of a run the window's end cut is not shown either
            shown = shown[: max(0, len(shown) - _RUN_ROOM)]
    shown = _runs_masked(shown, secrets, keep)
    return shown + " …" if cut and len(shown) <= limit else shown


def _runs_masked(text: str, secrets: tuple[str, ...], keep: int) -> str:
    """``text`` with every run of a secret masked in as much of it as leaves ``keep``
    characters once masked: ``redact`` looks for runs in texts up to ``RUN_SCAN_LIMIT`` only,
    and what a cut shows is looked at whatever its length."""
    size = keep
    while True:
        head = _mask_runs(text[:size], secrets)
        if len(head) >= keep or size >= len(text):
            return head + text[size:]
        size *= 2


def redact_exception(error: BaseException, secrets: tuple[str, ...]) -> BaseException:
    """``error``, and every exception behind it (``causes``), with ``secrets`` redacted from
    its text.

    The exception keeps its class, so ``except`` clauses and ``ignore_exceptions`` still match.
    Its ``args`` and notes are redacted in place; a class whose ``str()`` is built from other
    attributes is given a ``str()`` of the redacted text.
    """
    for linked in list(causes(error)):  # walked first: redacting rewrites args
        _redact_one(linked, secrets)
    return error


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception behind it: chained, or carried in ``args`` or ``reason``
    (urllib3 wraps the cause of a failure inside its own error's arguments)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack.extend(item for item in inner if isinstance(item, BaseException))


#: What an event carries of an error's message (and of each of its arguments), redacted.
EVENT_TEXT_LIMIT = 1000
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
    # any text an exception keeps (urllib3's LocationParseError its ``location``: a proxy URL,
    # its password with it), redacted but not cut: it may be the error's whole report
    for name, value in list(getattr(error, "__dict__", {}).items()):
        if isinstance(value, str):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(error, name, redact(value, secrets))
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
    try:
        still = str(error)
    except Exception:
        still = text
    shown = _repr(error)  # may be built from other attributes than its args
    clean_repr = _redact_text(shown, secrets) if redact(shown, secrets) != shown else None
    if clean != text and _redact_text(still, secrets) != still:
        _force_text(error, clean, clean_repr)
    elif clean_repr is not None:
        _force_text(error, None, clean_repr)


def _repr(error: BaseException) -> str:
    try:
        return repr(error)
    except Exception:
        return type(error).__name__


def _redact_text(text: str, secrets: tuple[str, ...]) -> str:
    """Redacted, then cut to ``EXCEPTION_TEXT_LIMIT`` (line breaks kept: tracebacks show it)."""
    shown = _redact_head(text, secrets, EXCEPTION_TEXT_LIMIT)
    return shown if len(shown) <= EXCEPTION_TEXT_LIMIT else shown[:EXCEPTION_TEXT_LIMIT] + "…"


def _redact_arg(arg: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(arg, str):
        return _redact_text(arg, secrets)
    if isinstance(arg, BaseException):  # redacted in place: it stays the error it is
        return arg
    try:
        text = repr(arg)
    except Exception:
        return type(arg).__name__
    return arg if redact(text, secrets) == text else _redact_text(str(arg), secrets)


def _force_text(error: BaseException, text: str | None, shown: str | None) -> None:
    """Give ``error`` a ``str()`` of ``text`` and a ``repr()`` of ``shown`` (each when given),
    keeping its class name and its bases."""
    cls = type(error)
    namespace: dict[str, Any] = {"__module__": cls.__module__}
    if text is not None:
        namespace["__str__"] = lambda self: text
    if shown is not None:
        namespace["__repr__"] = lambda self: shown
    try:
        redacted_cls = type(cls.__name__, (cls,), namespace)
        redacted_cls.__qualname__ = cls.__qualname__
        error.__class__ = redacted_cls
    except TypeError:  # built-in layouts refuse __class__ assignment: keep the args form
        error.args = (text if text is not None else shown,)
