"""What both runners do alike on the wire: the redirect policy, the credential rule on redirects,
body decoding, Basic credentials, cookies, and the exceptions that extend the requests tree.

The limits themselves are stated in ``_core``; this module applies them with plain functions of
URLs, headers and bytes, so the requests runner (``_sync``) and the aiohttp runner (``_async``)
cannot drift apart. It imports requests (for its exception tree and cookie jar), never aiohttp.
"""

from __future__ import annotations

import base64
import copy
import functools
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import stat
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import idna
import requests
from requests.cookies import MockRequest, RequestsCookieJar
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_auth_from_url, prepend_scheme_if_needed
from urllib3.exceptions import LocationParseError, LocationValueError, ProxySchemeUnknown
from urllib3.util import parse_url

from httsleep_airflow._core import (
    CONTENT_CODINGS,
    MAX_COOKIE_SIZE,
    MAX_COOKIES,
    MAX_ENCODINGS,
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_INTERIM,
    MAX_REDIRECTS,
    MAX_STATUS_LINE,
    REDIRECT_STATUSES,
)
from httsleep_airflow._secrets import causes, holds_named_secret, is_secret_name, redact
from httsleep_airflow.exceptions import ConditionError

__all__ = [
    "STATUS_LINE",
    "BodyDropped",
    "CookieHeaders",
    "HeaderTooLarge",
    "MalformedHeaders",
    "RedirectRefused",
    "RequestDeadlineExceeded",
    "basic_header",
    "check_cookies",
    "check_head_lines",
    "check_header_lines",
    "check_headers",
    "check_json_body",
    "check_method",
    "check_proxy_credentials",
    "check_status",
    "check_status_line",
    "credential_headers",
    "cut_line_refused",
    "declared_body_size",
    "decode_body",
    "drop_unsendable_cookies",
    "framing_line",
    "heads_refused",
    "holds_secret",
    "joined_header_lines",
    "next_hop",
    "proxy_reads_it",
    "same_origin",
    "text_encoding",
    "tls_context",
    "tls_context_of",
    "tls_failure",
    "trailer_lines",
    "tunnel_refusal",
    "without_proxy_authorization",
]


class BodyDropped(requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
    """The connection closed inside the response body (fewer bytes than announced, or a chunked
    body cut short). A ``ConnectionError``, so the advice for a flapping server covers it, and
    still a ``ChunkedEncodingError`` for code written for requests."""


class HeaderTooLarge(requests.exceptions.ConnectionError):
    """The response's status or a header line is longer than ``_core.MAX_HEADER_LINE`` bytes,
    or it has more than ``_core.MAX_HEADERS`` header lines; it was not read further. No status
    is claimed: the server's was never accepted."""


class RedirectRefused(requests.exceptions.InvalidURL):
    """A ``307`` or ``308`` redirect to another origin, for a request whose body holds a
    credential (a secret-looking field, or any secret the request carries elsewhere): such a
    redirect sends the body again, and credentials go to their own origin only. Not followed;
    an ``InvalidURL``, as a redirect to a URL that cannot be followed."""


class RequestDeadlineExceeded(requests.exceptions.ReadTimeout):
    """One request (connect, headers and the whole body, redirects included) took longer than
    its total deadline (``request_deadline``, or ``max_wait``'s rest); it was abandoned. A
    ``ReadTimeout``, so ``ignore_exceptions=[requests.exceptions.Timeout]`` covers it."""

    @classmethod
    def after(cls, label: str, budget: float) -> RequestDeadlineExceeded:
        """The error for the request ``label`` (``"GET url"``) cut at its ``budget``."""
        return cls(f"{label}: no complete response within {budget:g} s (request deadline)")


#: What both runners say of a read that waited past its timeout, and of a connection that was
#: not made within the connect timeout (their libraries word them their own way, one naming an
#: internal pool class): after the request's label (``worded``).
READ_TIMEOUT_TEXT = "no data came within the read timeout"
CONNECT_TIMEOUT_TEXT = "no connection within the connect timeout"
#: What both runners say of a connection that could not be made (refused, a name that does not
#: resolve), before the system's reason (``connect_failure``).
CONNECT_FAILED_TEXT = "cannot connect"


def connect_failure(error: BaseException) -> str:
    """``CONNECT_FAILED_TEXT`` with the system's reason for it, from the socket's own error
    behind ``error`` (``Connection refused``, ``Name or service not known``), worded by the
    system, not by either library (one named an internal pool class, the other an object's
    address)."""
    for cause in causes(error):
        if isinstance(cause, OSError) and type(cause).__module__ in ("builtins", "socket"):
            number = cause.errno
            if not isinstance(number, int):  # several addresses tried: each one's error
                found = re.search(r"\[Errno (\d+)\]", str(cause))
                number = int(found.group(1)) if found else None
            if isinstance(number, int) and number > 0:
                return f"{CONNECT_FAILED_TEXT} ({os.strerror(number)})"
            return f"{CONNECT_FAILED_TEXT} ({cause.strerror or type(cause).__name__})"
    return CONNECT_FAILED_TEXT


TLS_FAILED_TEXT = "the TLS handshake failed"
TUNNEL_REFUSED_TEXT = "the proxy refused the tunnel"
#: A TLS handshake the other end ended: urllib3 has ``SSLEOFError`` behind it, aiohttp nothing.
_TLS_CUT = "the other end closed the connection inside it"


def tls_failure(error: BaseException) -> str:
    """``TLS_FAILED_TEXT`` with ssl's own reason, from the ssl error behind ``error`` (urllib3
    named its internal pool class, aiohttp an SSL context's address)."""
    for cause in causes(error):
        for found in (getattr(cause, "os_error", None), cause):  # aiohttp keeps it there
            if type(found).__module__ != "ssl":  # aiohttp's own are ssl.SSLError too
                continue
            if isinstance(found, ssl.SSLEOFError):
                return f"{TLS_FAILED_TEXT} ({_TLS_CUT})"
            if isinstance(found, ssl.SSLError):
                return f"{TLS_FAILED_TEXT} ({found})"
    return f"{TLS_FAILED_TEXT} ({_TLS_CUT})"


_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})(?: (.*))?")


def tunnel_refusal(error: BaseException) -> str | None:
    """``TUNNEL_REFUSED_TEXT`` with the status a proxy answered ``CONNECT`` with, when that is
    what ``error`` is (urllib3 words it inside its pool's error, aiohttp as the reason alone)."""
    for cause in causes(error):
        status, reason = getattr(cause, "status", None), getattr(cause, "message", None)
        if type(status) is int and type(reason) is str and "Proxy" in type(cause).__name__:
            return f"{TUNNEL_REFUSED_TEXT} ({status} {reason})".replace(" )", ")")
        found = _TUNNEL_STATUS.fullmatch(str(cause)) if isinstance(cause, OSError) else None
        if found is not None:
            return f"{TUNNEL_REFUSED_TEXT} ({found[1]} {found[2] or ''})".replace(" )", ")")
    return None


def worded(error: BaseException, label: str, budget: float | None) -> BaseException:
    """``error`` in the words both runners use for its cause where their libraries word it
    their own way: a read or connect timeout, the request's deadline (``budget``: seconds)."""
    if isinstance(error, RequestDeadlineExceeded) and budget is not None:
        return RequestDeadlineExceeded.after(label, budget)
    if type(error) is requests.exceptions.ReadTimeout:
        return requests.exceptions.ReadTimeout(f"{label}: {READ_TIMEOUT_TEXT}")
    if type(error) is requests.exceptions.ConnectTimeout:
        return requests.exceptions.ConnectTimeout(f"{label}: {CONNECT_TIMEOUT_TEXT}")
    if type(error) is requests.exceptions.ConnectionError and str(error).startswith(
        CONNECT_FAILED_TEXT
    ):
        return requests.exceptions.ConnectionError(f"{label}: {error}")
    if type(error) in (requests.exceptions.SSLError, requests.exceptions.ProxyError) and str(
        error
    ).startswith((TLS_FAILED_TEXT, TUNNEL_REFUSED_TEXT)):
        return type(error)(f"{label}: {error}")
    return error


BODY_DROPPED_TEXT = (
    "the response body was cut short: the connection closed or was reset before the end its "
    "Content-Length or chunks announced, or a chunk's size line could not be read"
)
HEADER_LIMIT_TEXT = (
    f"the response's head is past the limits ({MAX_STATUS_LINE} bytes of status line, "
    f"{MAX_HEADER_LINE} characters per header, {MAX_HEADERS} headers); it was not read"
)
INTERIM_LIMIT_TEXT = (
    f"more than {MAX_INTERIM} interim (1xx) responses before the final one; it was not read"
)


#: The characters of an RFC 9110 token, which a header name is.
TOKEN_CHARACTERS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{TOKEN_CHARACTERS}]+")
_TOKEN_BYTES = re.compile(f"[{TOKEN_CHARACTERS}]+".encode())
#: What no header name may hold: anything but a token's characters.
_NOT_TOKEN = re.compile(f"[^{TOKEN_CHARACTERS}]")


def check_method(method: Any) -> str:
    """``method`` upper-cased, as both runners send it, if it is an HTTP token (requests would
    send a space or a line break in it as it is; http.client refuses it only once sent)."""
    if not isinstance(method, str) or not _TOKEN.fullmatch(method):
        raise ConditionError(f"method must be an HTTP method like 'GET', not {method!r}")
    upper: str = method.upper()
    if upper == "CONNECT":  # a tunnel to open, no request to a job API: aiohttp sends its
        # target as host:port, requests as the URL's path
        raise ConditionError("method must be an HTTP method like 'GET', not 'CONNECT' (a tunnel)")
    return upper


def check_json_body(body: Any) -> None:
    """Raise ``ConditionError`` when a request's ``json`` body cannot be sent as JSON: a value
    JSON cannot write (a set, bytes, another object), NaN or an infinity (requests refuses
    them when it prepares the body: the requests runner at its first poll, the aiohttp runner
    when built), or a nesting past the stack."""
    if body is None:
        return
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConditionError(f"json_body cannot be sent as JSON: {exc}") from None


class MalformedHeaders(requests.exceptions.ConnectionError):
    """The response's header section is malformed, or does not frame its body one way: a name
    that is not an HTTP token (a space, a control or non-ASCII byte, ``(``, ``@``...), a NUL
    byte in a value, a ``Content-Length`` that is not one number, a ``Transfer-Encoding`` that
    is not ``chunked`` alone, or both. RFC 9110 and 9112 let a recipient reject such a message
    (the last ones are how requests are smuggled); aiohttp's parser does, so both runners do.
    No status is claimed: the server's was never accepted."""


MALFORMED_TEXT = (
    "the response's header section is malformed (a header name that is not a token, a NUL "
    "byte in a value, or a Content-Length or Transfer-Encoding that does not frame the body "
    "one way); the response was refused"
)
_DIGITS = re.compile(r"[0-9]+")


def joined_header_lines(pairs: Iterable[tuple[str, str]]) -> OrderedDict[str, tuple[str, str]]:
    """Header lines as requests holds them (urllib3's header dict, then requests'): repeated
    names joined by ``", "``, in the first one's place and spelling; keyed by the lower-case
    name, as ``CaseInsensitiveDict`` keeps them."""
    store: OrderedDict[str, tuple[str, str]] = OrderedDict()
    for name, value in pairs:
        key = name.lower()
        held = store.get(key)
        store[key] = (name, value) if held is None else (held[0], f"{held[1]}, {value}")
    return store


#: Header names found to be tokens, each with its lower-case form: every poll of a wait meets
#: the same few.
_NAMES: dict[str, str] = {}


def held_value(value: str) -> str:
    """A header value as both runners hold it: a folded one's line breaks dropped (http.client
    keeps them), and the whitespace that ends it (RFC 9110 5.5)."""
    return value.replace("\r\n", "").replace("\n", "").rstrip(" \t")


def check_header_lines(pairs: Iterable[tuple[str, str]], *, interim: bool = False) -> None:
    """Raise ``HeaderTooLarge`` when the response headers ``pairs`` (one per line received) are
    past ``MAX_HEADER_LINE`` or ``MAX_HEADERS``, and ``MalformedHeaders`` for what that class
    describes.

    :param interim: the head of an interim (``1xx``) response, which has no body: as aiohttp's
        parser reads one, its lines within its own length limit (http.client's alike), with any
        ``Transfer-Encoding`` (but beside a ``Content-Length``); at most ``MAX_HEADERS`` lines, as
        http.client reads one.
    """
    lengths = codings = 0
    for count, (name, value) in enumerate(pairs, 1):
        if count > MAX_HEADERS or (
            not interim
            and len(name) + len(value) > MAX_HEADER_LINE
            and len(name) + len(held_value(value)) > MAX_HEADER_LINE
        ):
            raise HeaderTooLarge(HEADER_LIMIT_TEXT)
        lowered = _NAMES.get(name)
        if lowered is None:  # a name not met before: checked once
            if not _TOKEN.fullmatch(name):
                raise MalformedHeaders(MALFORMED_TEXT)
            lowered = name.lower()
            if len(_NAMES) < 1024:  # a server sending ever new names fills it, no more
                _NAMES[name] = lowered
        if "\x00" in value:
            raise MalformedHeaders(MALFORMED_TEXT)
        if lowered == "content-length":
            lengths += 1
            length = value.strip(" \t\r\n")
            if lengths > 1 or not _DIGITS.fullmatch(length) or _length_refused(length):
                raise MalformedHeaders(MALFORMED_TEXT)
        elif lowered == "transfer-encoding":
            codings += 1
            if not interim and (codings > 1 or value.strip(" \t\r\n").lower() != "chunked"):
                raise MalformedHeaders(MALFORMED_TEXT)
    if lengths and codings:
        raise MalformedHeaders(MALFORMED_TEXT)


def _length_refused(digits: str) -> bool:
    """Whether decimal ``digits`` are refused as a length: 2**64 or more, or more than 4,300
    digits with their leading zeros (more than Python reads as a number: aiohttp reads them
    so), worked out without reading more than a length needs (at once for 19 digits or
    fewer, all below 2**64)."""
    if len(digits) <= 19:
        return False
    number = digits.lstrip("0")
    return len(digits) > 4300 or len(number) > 20 or int(number or "0") >= 1 << 64


#: A status line both runners read: HTTP/1.0 or 1.1, a status of three digits from 100, a
#: reason without a bare CR (aiohttp's parser also reads RTSP/, ICE/ and HTTP/2.0 lines and a
#: status below 100; http.client any HTTP/1.x).
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-9][0-9]{2}(?: [^\r\n]*)?\r?\n")
BAD_STATUS_TEXT = "bad status line: not 'HTTP/1.1 <three digits> <reason>'"


def check_status_line(line: bytes) -> bool:
    """Raise ``ConnectionError`` for a status line, read up to its LF, that is not
    ``STATUS_LINE``; whether ``line`` is a whole status line (``False``: not ended yet)."""
    if not line.endswith(b"\n"):
        return False
    if not STATUS_LINE.fullmatch(line):
        raise requests.exceptions.ConnectionError(BAD_STATUS_TEXT)
    return True


CUT_HEAD_TEXT = "the connection closed inside the response's header section"
NO_ANSWER_TEXT = "the server closed the connection without answering"


def check_head_lines(lines: list[bytes]) -> None:
    """Raise for a response head (status line and header lines, as read line by line) that
    aiohttp's parser refuses and http.client reads, or that the aiohttp runner refuses: a
    status line that is not ``STATUS_LINE`` (``ConnectionError``), header lines that
    ``heads_refused`` refuses (``MalformedHeaders``), or an end of stream before the blank line
    that ends the head (``ConnectionError``, or ``MalformedHeaders`` when aiohttp's parser has
    refused what came: ``cut_head_refused``)."""
    if lines and not check_status_line(lines[0]):
        raise requests.exceptions.ConnectionError(BAD_STATUS_TEXT)  # cut inside it
    if heads_refused(b"".join(lines)):  # the rule aiohttp's runner applies to what it reads
        raise MalformedHeaders(MALFORMED_TEXT)
    if not lines or lines[-1] not in (b"\r\n", b"\n"):
        if cut_head_refused([line for line in lines[1:] if line]):  # not the end's empty read
            raise MalformedHeaders(MALFORMED_TEXT)
        raise requests.exceptions.ConnectionError(CUT_HEAD_TEXT)


def cut_line_refused(line: bytes, *, trailer: bool, first: bool) -> bool:
    """Whether what came of a header (or trailer) line the connection cut holds what aiohttp's
    parser refuses as it reads it, before the line ends: a name byte that is no token character
    (a CR after a name too), an empty name, a ``Content-Length`` value that is no number below
    2^64, in a trailer any ``Content-Length``.

    :param trailer: a trailer line.
    :param first: the first line of its section: one that begins with a space or tab is
        refused at once there (RFC 9112 lets a recipient refuse whitespace before the first
        header; aiohttp's parser reads past one space before a name, and both runners refuse
        it: ``heads_refused``); a later one folds into the line before.
    """
    if line[:1] in (b" ", b"\t"):
        return first or bare_cr(line)  # folded into the line before: a bare CR at once
    own = _OWN_STATE_NAME.match(line)
    if own is not None:  # spaces after such a name: refused only once the line ends, whatever
        return b"\t" in own.group(1)  # follows them; a tab among them at once
    name, colon, value = line.partition(b":")
    if not colon:
        return name not in (b"", b"\r") and not _TOKEN_BYTES.fullmatch(name)  # b"\r": blank
    if not _TOKEN_BYTES.fullmatch(name):
        return True
    if name.lower() != b"content-length":
        return False
    number = _CUT_LENGTH.fullmatch(value)
    return trailer or number is None or _length_refused(number.group(1).decode())


#: A header name llhttp reads with states of its own, then the spaces or tabs after it (after
#: any other name, refused at once).
_OWN_STATE_NAME = re.compile(
    rb"(?i)(?:content-length|transfer-encoding|connection|upgrade|proxy-connection)([ \t]+)"
)
#: What may come of a ``Content-Length`` value before the connection's end.
_CUT_LENGTH = re.compile(rb"[ \t]*([0-9]*)[ \t]*\r?")


def bare_cr(line: bytes) -> bool:
    """Whether a header (or trailer) line, as read up to its LF, holds a CR not followed by
    LF. A CR that ends a line the connection cut is none: an LF could have followed."""
    if line.endswith(b"\n"):
        return b"\r" in (line[:-2] if line.endswith(b"\r\n") else line[:-1])
    return b"\r" in line.removesuffix(b"\r")


def trailer_lines(line: bytes, *, empty: bool = False) -> list[bytes]:
    """A trailer line as aiohttp's parser reads it: a CR right after the name's colon (and
    spaces or tabs) and followed by a byte other than LF ends the line there, and what follows
    is a line of its own (a head's line is refused instead: ``heads_refused``; trailers are
    dropped by both runners). So does a CR after the spaces that begin a line folded into a
    value that is empty so far (``empty``: the line before had one)."""
    lines = []
    while True:
        folded = empty and line[:1] in (b" ", b"\t")
        lenient = (_LENIENT_FOLD if folded else _LENIENT_CR).match(line)
        if lenient is None:
            lines.append(line)
            return lines
        lines.append(lenient.group(1) + b"\r\n")
        line, empty = line[lenient.end() :], True  # a value empty so far, what follows may fold


#: A name, its colon and the spaces after it, then a CR followed by a byte other than LF.
_LENIENT_CR = re.compile(rb"(?![ \t])([^:\r\n]*:[ \t]*)\r(?=[^\n])")
#: The spaces that begin a folded line, then a CR followed by a byte other than LF.
_LENIENT_FOLD = re.compile(rb"([ \t]+)\r(?=[^\n])")


def heads_refused(
    heads: bytes, *, line: int = 0, interim: bool = False, framing: bool = False
) -> bool:
    """Whether the header lines of the response heads ``heads`` begins with (up to the end of
    the first that is no interim one: its body follows; the last perhaps cut) hold what both
    runners refuse (the requests runner in each head it reads: ``check_head_lines``) and
    aiohttp's parser reads: a CR right after a header's colon (and spaces), not followed by
    LF, which it takes for the end of the line (``X:\\rY: 1`` would be two headers:
    ``bare_cr``), whitespace before a head's first header (it reads past one space, and takes
    a line of spaces for the end of the head: ``cut_line_refused``), a line folded (obs-fold)
    into a ``Content-Length`` or ``Transfer-Encoding`` line with a value (``framing_line``):
    aiohttp's parser refuses one into a length, and reads a coding with one as no ``chunked``
    (the body to the connection's end). A value that begins on the folded line is read alike.
    A status line that is not ``STATUS_LINE`` raises ``ConnectionError`` once it has ended
    (``check_status_line``), as the requests runner refuses it: aiohttp's parser reads some.

    :param line: the line of its head ``heads`` begins with: 0 its status line (after any CR
        and LF bytes, which are skipped), 1 its first header line, 2 a later one, 3 the rest of
        a header line whose start was looked at before.
    :param interim: when ``line`` is not 0, whether that head is an interim (``1xx``) one.
    :param framing: when ``line`` is 2, whether the line before is a ``Content-Length`` or
        ``Transfer-Encoding`` line with a value (``framing_line``); when it is 3, whether the
        line whose rest ``heads`` begins with is one.
    """
    if line == 0 and not _odd_bytes(heads):
        return False
    position, size = 0, len(heads)
    while position < size:
        if line == 0:  # the CR and LF bytes before a status line: skipped by both (a bare CR
            # too), in one step (a server may send megabytes of them)
            position = BLANK_BYTES.match(heads, position).end()  # type: ignore[union-attr]
            if position == size:
                break
        found = _LINES.match(heads, position)
        if found is None:
            break
        position = found.end()
        text = found.group()
        if line == 0:
            if not check_status_line(text):  # not ended yet
                return False
            line, interim, framing = 1, text[9:10] == b"1", False
        elif line == 3:  # the rest of a line, whose start told whether it is a framing one
            if bare_cr(text):
                return True
            line = 2
        elif text in (b"\r\n", b"\n"):  # the end of a head
            if not interim:
                return False
            line = 0
        elif bare_cr(text) or (text[:1] in (b" ", b"\t") and (line == 1 or framing)):
            return True
        else:
            line, framing = 2, framing_line(text)
    return False


def framing_line(read: bytes | bytearray, start: int = 0) -> bool:
    """Whether the line at ``start`` of ``read`` is a ``Content-Length`` or
    ``Transfer-Encoding`` line with a value (more than spaces or tabs)."""
    return _FRAMING_LINE.match(read, start) is not None


#: A ``Content-Length`` or ``Transfer-Encoding`` line with a value.
_FRAMING_LINE = re.compile(rb"(?i)(?:content-length|transfer-encoding)[ \t]*:[ \t]*[^ \t\r\n]")


def cut_head_refused(lines: list[bytes]) -> bool:
    """Whether aiohttp's parser has refused a head the connection cut before the cut: its
    header lines as read, the last one perhaps cut. Each line is refused as that parser refuses
    it as it reads (``cut_line_refused``), and a line with no colon once it ends; a second
    ``Content-Length`` once its value begins; one beside a ``Transfer-Encoding`` (either first)
    once its name ends."""
    lengths = codings = 0
    for index, line in enumerate(lines):
        ended = line.endswith(b"\n")
        text = line.rstrip(b"\r\n") if ended else line
        if cut_line_refused(text, trailer=False, first=index == 0):
            return True
        if text[:1] in (b" ", b"\t"):  # folded into the line before
            continue
        name, colon, value = text.partition(b":")
        lowered = name.lower()
        if not colon:
            if ended:
                return True
        elif lowered == b"content-length":
            if codings or (lengths and value.strip(b" \t\r")):
                return True
            lengths += 1
        elif lowered == b"transfer-encoding":
            if lengths:
                return True
            codings += 1
    return False


def _odd_bytes(read: bytes) -> bool:
    """Whether ``heads_refused`` may refuse the heads ``read`` begins with; ``False`` for most
    reads, in one pass: those that begin with one final head whose lines end with CRLF and
    hold no other CR, and whose header lines begin with neither a space nor a tab."""
    return _ORDINARY_HEAD.match(read) is None


#: A final head of lines that end with CRLF, hold no other CR and are no folds.
_ORDINARY_HEAD = re.compile(
    rb"HTTP/1\.[01] [2-9][0-9]{2}(?: [^\r\n]*)?\r\n(?:[^\r\n \t][^\r\n]*\r\n)*\r\n"
)


#: A line as read up to its LF, or what the connection cut of one.
_LINES = re.compile(rb"[^\n]*\n|[^\n]+$")
#: The CR and LF bytes a head may begin with (both parsers skip them before a status line).
BLANK_BYTES = re.compile(rb"[\r\n]*")


def check_status(status: int, version: tuple[int, ...]) -> None:
    """Raise ``ConnectionError`` for a status line http.client refuses, or ``check_head_lines``
    (aiohttp reads a status below 100, and ``HTTP/2.0``): the same in both runners."""
    if status < 100 or version not in ((1, 0), (1, 1)):
        raise requests.exceptions.ConnectionError(BAD_STATUS_TEXT)


# --- redirects ---------------------------------------------------------------------------------

#: Headers that carry credentials whatever their name says; dropped on a cross-origin redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
#: Headers that describe a body; dropped with it when a redirect turns the method into GET.
BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url`` (the default port filled in), as requests (urllib3)
    will connect to it: where credentials for it may go. A URL that urllib3 and the standard
    library read as different hosts (``http://a\\@b/``) has no origin credentials may go to
    (an empty host)."""
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split_host = (split.hostname or "").lower()
        split_port = split.port
    except (ValueError, LocationParseError):
        return "", "", 0
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").lower().strip("[]")
    if host != _as_urllib3_host(split_host) or (parsed.port or None) != split_port:
        return scheme, "", 0
    return scheme, host, parsed.port or _DEFAULT_PORTS.get(scheme, 0)


def _as_urllib3_host(host: str) -> str | None:
    """A host as the standard library reads it, written as urllib3 writes one: a name beyond
    ASCII in its IDNA form (as urllib3 encodes it), an IPv6 zone id's ``%25`` as ``%``.
    ``None`` when urllib3 would not encode it."""
    if ":" in host:  # an IPv6 address
        return host.replace("%25", "%", 1)
    if host.isascii():
        return host
    try:
        return str(idna.encode(host, strict=True, std3_rules=True).decode("ascii"))
    except idna.IDNAError:
        return None


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs share scheme, host and port (credentials may follow a redirect, or go
    with a request). A URL with no origin credentials may go to (``origin``) shares none, not
    even with another such URL."""
    where = origin(first)
    return bool(where[1]) and where == origin(second)


#: Bytes every charset a response names must decode (``errors="replace"``) to be used.
_PROBE = b'{"status": "\xc3\xa9\xff"}'


@functools.lru_cache(maxsize=64)
def _decodes(encoding: str) -> bool:
    try:
        str(_PROBE, encoding, errors="replace")
    except LookupError:  # not a charset: requests itself reads the body as UTF-8 then
        return True
    except Exception:  # a codec that decodes no bytes or only some ("undefined", "idna")
        return False
    return True


def text_encoding(encoding: str | None) -> str | None:
    """A response's encoding (the charset it names, as requests reads it), or UTF-8 when that
    charset names a codec that cannot read any bytes as text (``undefined``, ``idna``,
    ``punycode``): requests' ``text`` would raise, and with it every ``text``, ``json`` and
    ``jsonpath`` condition and the XCom push."""
    return encoding if encoding is None or _decodes(encoding) else "utf-8"


def declared_body_size(method: str | None, status: int, content_length: str | None) -> int | None:
    """The body size a response's ``Content-Length`` declares, checked against
    ``max_body_bytes`` before reading: ``None`` when none is declared, and for a response that
    has no body whatever it declares (to ``HEAD``, and ``1xx``, ``204`` and ``304``: the length
    of what ``GET`` would have sent, a large export's)."""
    if method == "HEAD" or status < 200 or status in (204, 304):
        return None
    content_length = (content_length or "").strip()
    if not (content_length.isascii() and content_length.isdigit()):
        return None
    if _length_refused(content_length):  # refused with the head (check_header_lines)
        return None
    return int(content_length)


def redirect_location(status: int, headers: Mapping[str, str]) -> str | None:
    """The ``Location`` a response redirects to, or ``None`` when it is not a redirect.

    Header values are latin-1 text (as http.client decodes them); a location sent as UTF-8
    bytes is read as UTF-8, as requests does.
    """
    if status not in REDIRECT_STATUSES:
        return None
    location = headers.get("Location")
    if not location:
        return None
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


#: Never in a URL's authority: requests and the standard library would read the host apart.
AUTHORITY_NEVER = re.compile(r"[\\\s\x00-\x1f\x7f]")


_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_ENCODED_CONTROL = re.compile(r"%(?:[01][0-9a-fA-F]|7[fF])")


def followable(url: str) -> bool:
    """Whether both runners can send a request to ``url``: http(s), a host that encodes (IDNA),
    a port in range, nothing in the authority that parsers read apart."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            return False
        host.encode("idna")
        if _DOTTED_NUMBERS.fullmatch(host):  # a numeric host is an IPv4 address, or nothing
            ipaddress.IPv4Address(host)
    except ValueError:  # UnicodeError and AddressValueError included
        return False
    return not (AUTHORITY_NEVER.search(parts.netloc) or _ENCODED_CONTROL.search(host))


def _prepared_url(url: str) -> str:
    """``url`` as ``requests.PreparedRequest`` prepares it (percent-escapes, path, host), its
    user-info dropped: neither runner sends it to a redirect."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    parts = urlsplit(prepared.url or "")
    if parts.username is None and parts.password is None:
        return prepared.url or ""
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def next_hop(
    method: str,
    url: str,
    status: int,
    location: str,
    hops: int,
    body: Any = None,
    secrets: tuple[str, ...] = (),
) -> tuple[str, str, bool]:
    """Where a redirect leads: ``(method, url, keep_body)``.

    :param hops: redirects followed so far in this request, this one excluded.
    :param body: the request's body as prepared, and ``secrets`` the request's (``tidy``):
        looked at only for a redirect that would send it to another origin.
    :raises requests.exceptions.TooManyRedirects: this would be redirect ``MAX_REDIRECTS + 1``.
    :raises RedirectRefused: the redirect would send a body holding a credential to another
        origin (``holds_secret``).
    """
    if hops >= MAX_REDIRECTS:
        raise requests.exceptions.TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.")
    if location.startswith("//"):  # scheme-relative
        location = f"{urlsplit(url).scheme}:{location}"
    try:  # as requests prepares a URL: what urllib3 puts on the wire, and aiohttp alike
        target = _prepared_url(urljoin(url, location))
    except (ValueError, requests.RequestException):  # an IPv6 address that does not close
        target = ""
    if not followable(target):
        raise requests.exceptions.InvalidURL(
            "a redirect's Location is not an http(s) URL with a valid host and port"
        )
    fragment = urlsplit(url).fragment
    if fragment and not urlsplit(target).fragment:
        target = f"{target}#{fragment}"
    keep_body = status in (307, 308)
    if keep_body and body and not same_origin(url, target) and holds_secret(body, secrets):
        scheme, host, port = origin(target)
        raise RedirectRefused(
            f"a {status} redirect to another origin ({scheme}://{host}:{port}) would send the "
            "request's body, which holds a credential, there: not followed"
        )
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        method = "GET"
    return method, target, keep_body


PROXY_AUTH = "proxy-authorization"


def proxy_reads_it(url: str, proxy: str | None) -> bool:
    """Whether a ``Proxy-Authorization`` header on a request to ``url`` through ``proxy``
    (``None``: none) goes to the proxy: plain http through a proxy, which the proxy reads.
    Over https a proxy sees only the tunnel (its credentials go in its URL, on the
    ``CONNECT``), and with no proxy the origin would read it: not sent there (requests sends
    it to the origin in both)."""
    return bool(proxy) and url[:5].lower() == "http:"


def without_proxy_authorization(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` but ``Proxy-Authorization`` (``proxy_reads_it``), in any case."""
    return {name: value for name, value in headers.items() if name.lower() != PROXY_AUTH}


def holds_secret(body: Any, secrets: tuple[str, ...]) -> bool:
    """Whether a request's ``body`` (text or bytes, as prepared) holds one of ``secrets`` (as
    ``tidy`` makes them), in any form ``redact`` finds, or a field named as a credential
    with a value (``password=1234``: too short for ``secrets``, but named one:
    ``holds_named_secret``); a stream's content is not known."""
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("latin-1")  # UTF-8 read so is one of a secret's forms
    if not isinstance(body, str) or not body:
        return False
    return redact(body, secrets) != body or holds_named_secret(body)


# --- request headers ---------------------------------------------------------------------------

#: Any character but visible ASCII, space and tab. requests sends text as latin-1 and aiohttp
#: as UTF-8, and each sends control characters the other refuses: only these are sent alike by
#: both runners, or at all.
_NOT_VISIBLE = re.compile(r"[^\t\x20-\x7e]")
#: What no header value may hold: leading whitespace, or a character ``_NOT_VISIBLE`` finds.
_NOT_SENT_ALIKE = re.compile(r"\A[\t ]|" + _NOT_VISIBLE.pattern)


def _kind(character: str, position: int) -> str:
    if position == 0 and character in "\t ":
        return "leading whitespace"
    if character in "\r\n":
        return "a line break"
    if character < " " or character == "\x7f":
        return "a control character"
    if character == " ":
        return "a space"
    if character < "\x7f":
        return f"a {character!r}"
    return "a character beyond ASCII"


def check_headers(headers: Mapping[Any, Any] | None, where: str = "headers") -> None:
    """Raise ``ConditionError`` for a header the runners would not send alike, or at all: a
    name that is not an HTTP token, a value that is not text (``str``, or ``bytes`` read as
    latin-1), or a value with leading whitespace, a line break, a control character or a
    character beyond ASCII. The message names the header, never its value: it may be a
    credential."""
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        raise ConditionError(
            f"{where} must map header names to values, not be a {type(headers).__name__}"
        )
    for name, value in headers.items():
        text_name = name.decode("latin-1") if isinstance(name, bytes) else name
        if not isinstance(text_name, str) or not _TOKEN.fullmatch(text_name):
            raise ConditionError(f"{where}: {_bad_name(text_name)}")
        if not isinstance(value, str | bytes):
            raise ConditionError(
                f"{where}: header {text_name!r} must be text, not {type(value).__name__}"
            )
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        _check_text(text, _NOT_SENT_ALIKE, f"{where}: header {text_name!r}")


def _bad_name(name: Any) -> str:
    """Why ``name`` is not a header name, without showing it (a pasted credential may stand
    where a name should)."""
    if not isinstance(name, str):
        return f"a header name must be text, not {type(name).__name__}"
    found = _NOT_TOKEN.search(name)
    if found is None:
        return "a header name is empty"
    return (
        f"a header name (not shown) has {_kind(found.group(), -1)} at position {found.start()};"
        " a name is letters, digits and !#$%&'*+-.^_`|~ only"
    )


def _check_text(text: str, pattern: re.Pattern[str], what: str) -> None:
    found = pattern.search(text)
    if found:
        raise ConditionError(
            f"{what} has {_kind(found.group(), found.start())} at position {found.start()} of "
            "its value (not shown); a header value is sent as visible ASCII, spaces and tabs "
            "(encode other text, e.g. percent-encoding)"
        )


def check_cookies(cookies: Any, where: str = "cookies") -> None:
    """Raise ``ConditionError`` for a request's own cookie the runners would not send alike:
    its name or value not text, or holding a character ``_NOT_VISIBLE`` finds."""
    if not cookies:
        return
    if isinstance(cookies, CookieJar):
        pairs: list[tuple[Any, Any]] = [(c.name, c.value or "") for c in cookies]
    elif isinstance(cookies, Mapping):
        pairs = list(cookies.items())
    else:
        raise ConditionError(
            f"{where} must be a dict or a cookie jar, not {type(cookies).__name__}"
        )
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConditionError(
                f"{where}: cookie {name!r} must be text, not {type(value).__name__}"
            )
        found = _NOT_VISIBLE.search(name)
        if found:
            raise ConditionError(
                f"{where}: a cookie name (not shown) has {_kind(found.group(), -1)} at position "
                f"{found.start()}; a name is visible ASCII only"
            )
        _check_text(value, _NOT_VISIBLE, f"{where}: cookie {name!r}")


def drop_unsendable_cookies(jar: CookieJar | None) -> None:
    """Forget the cookies in ``jar`` the runners would not send alike (a name or value with a
    character ``_NOT_VISIBLE`` finds, as a server may set): requests would send them as latin-1
    and aiohttp as UTF-8, or refuse to send at all. Such a cookie is sent back by neither. So
    are those past the limits (``MAX_COOKIE_SIZE``, its every attribute counted; past
    ``MAX_COOKIES``, the last in the jar's order: those set last). The places a cleared cookie
    leaves in the jar (``http.cookiejar`` keeps a path's dict, and a domain's, once empty) go
    too: a server that sets cookies under ever new paths grew them without end."""
    if jar is None:
        return
    if jar:
        odd = [
            c
            for c in jar
            if _NOT_VISIBLE.search(c.name)
            or _NOT_VISIBLE.search(c.value or "")
            or _cookie_size(c) > MAX_COOKIE_SIZE
        ]
        for cookie in odd:
            jar.clear(cookie.domain, cookie.path, cookie.name)
        for cookie in list(jar)[MAX_COOKIES:]:
            jar.clear(cookie.domain, cookie.path, cookie.name)
    places = getattr(jar, "_cookies", None)  # http.cookiejar's {domain: {path: {name: ...}}}
    if isinstance(places, dict):
        for domain, paths in list(places.items()):
            for path, names in list(paths.items()):
                if not names:
                    del paths[path]
            if not paths:
                del places[domain]


def _cookie_size(cookie: Any) -> int:
    """The characters a kept cookie holds: its name, value, domain, path and other attributes
    (``http.cookiejar`` keeps those it does not know)."""
    rest = getattr(cookie, "_rest", None) or {}
    size = len(cookie.name) + len(cookie.value or "") + len(cookie.domain) + len(cookie.path)
    return size + sum(len(str(name)) + len(str(value)) for name, value in rest.items())


def credential_headers(names: Iterable[str], secret_headers: Iterable[str]) -> list[str]:
    """Those of the header ``names`` that must not follow a redirect to another origin:
    ``Authorization``, ``Proxy-Authorization``, ``Cookie``, and every secret-looking one
    (``_secrets.is_secret_name``, with the plan's ``secret_headers``)."""
    return [
        name
        for name in names
        if name.lower() in CREDENTIAL_HEADERS or is_secret_name(name, secret_headers)
    ]


def hop_headers(
    headers: Mapping[str, str | bytes],
    *,
    keep_body: bool,
    cross_origin: bool,
    secret_headers: Any,
    origin_headers: Iterable[str] = (),
) -> dict[str, str | bytes]:
    """The request headers for the next hop of a redirect: to another origin, without the
    credentials (``credential_headers``) and the ``origin_headers`` (lower-case names)."""
    drop = set() if keep_body else set(BODY_HEADERS)
    drop.add("cookie")  # the jar's cookies are chosen again for the new URL
    if cross_origin:
        drop.update(name.lower() for name in credential_headers(headers, secret_headers))
        drop.update(origin_headers)
    return {name: value for name, value in headers.items() if name.lower() not in drop}


# --- bodies ------------------------------------------------------------------------------------


def codings(content_encoding: str | None) -> list[str] | None:
    """The codings to undo, last applied first, or ``None`` to hand the body on as it came (no
    header, or a coding not in ``_core.CONTENT_CODINGS``, or a chain past ``MAX_ENCODINGS``)."""
    if not content_encoding:
        return None
    chain = [part.strip().lower() for part in content_encoding.split(",") if part.strip()]
    if not chain or len(chain) > MAX_ENCODINGS or not CONTENT_CODINGS.issuperset(chain):
        return None
    return [coding for coding in reversed(chain) if coding != "identity"] or None


def decode_body(body: bytes, content_encoding: str | None, check_size: Any) -> bytes:
    """``body`` with its content codings undone (``gzip, gzip`` included), never past the body
    limit: ``check_size(n)`` raises once ``n`` decoded bytes are too many.

    :raises requests.exceptions.ContentDecodingError: the body is not what its codings say.
    """
    chain = codings(content_encoding)
    if chain is None or not body:
        return body
    for coding in chain:
        body = _undo(coding, body, check_size)
    return body


def _undo(coding: str, data: bytes, check_size: Any) -> bytes:
    out: list[bytes] = []
    try:
        if coding != "deflate":  # gzip: one member after another, NUL bytes between them
            position = size = 0
            while position < len(data):
                position, size = _inflate(
                    data, position, 16 + zlib.MAX_WBITS, check_size, out, size
                )
                after = _NOT_NUL.search(data, position)
                position = len(data) if after is None else after.start()
            return b"".join(out)
        try:  # zlib-wrapped, as the RFC says, or raw, as some servers send
            _inflate(data, 0, zlib.MAX_WBITS, check_size, out, 0)
        except zlib.error:
            out.clear()
            _inflate(data, 0, -zlib.MAX_WBITS, check_size, out, 0)
        return b"".join(out)
    except zlib.error as exc:
        raise requests.exceptions.ContentDecodingError(
            f"the body is not valid {coding} data: {exc}"
        ) from None


_NOT_NUL = re.compile(rb"[^\0]")
#: The first piece of a stream given to its decoder; each next one twice as large, up to
#: ``_MOST_IN``. What follows a stream's end in the piece it ends in is copied once
#: (``unused_data``), so each stream costs about what it holds: a body of many small gzip
#: members is undone in time that grows with its size, not with its square.
_FIRST_IN = 1024
_MOST_IN = 1024 * 1024


def _inflate(
    data: bytes, start: int, wbits: int, check_size: Any, out: list[bytes], size: int
) -> tuple[int, int]:
    """Inflate the stream that begins at ``start`` in ``data`` into ``out``, which holds
    ``size`` bytes before it (checked as it grows); where the stream ends, and the size ``out``
    holds then."""
    decoder = zlib.decompressobj(wbits)
    view = memoryview(data)
    position, step = start, _FIRST_IN
    while not decoder.eof:
        if position >= len(data):
            raise zlib.error("the stream ends early")
        piece: bytes | memoryview = view[position : position + step]
        position += len(piece)
        step = min(step * 2, _MOST_IN)
        while piece and not decoder.eof:
            decoded = decoder.decompress(piece, _MOST_IN)
            if decoded:
                size += len(decoded)
                check_size(size)
                out.append(decoded)
            piece = decoder.unconsumed_tail
    return position - len(decoder.unused_data), size


# --- credentials -------------------------------------------------------------------------------


def _wire(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    # requests sends the text of any other (``auth=("u", 123)``)
    text: str = value if isinstance(value, str) else str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def basic_header(username: str | bytes, password: str | bytes) -> str:
    """The ``Authorization`` value for Basic credentials: latin-1 when they fit, else UTF-8
    (what requests sends for latin-1, and what servers expect beyond it), the same bytes in
    both runners."""
    token = base64.b64encode(_wire(username) + b":" + _wire(password)).decode("ascii")
    return f"Basic {token}"


# --- proxies -----------------------------------------------------------------------------------

#: requests' words for a proxy URL without a host (``HTTPAdapter``).
NO_PROXY_HOST_TEXT = "Please check proxy URL. It is malformed and could be missing the host."


PROXY_CREDENTIALS_TEXT = (
    "the proxy's login or password is not latin-1 text once percent-decoded: requests sends "
    "them as latin-1 in Proxy-Authorization, and reads a percent escape as UTF-8 (an escape "
    "that is no UTF-8 is U+FFFD); write 'é' as %C3%A9, and only characters of latin-1"
)


def check_proxy_credentials(proxy: str) -> None:
    """Refuse a proxy URL whose credentials requests cannot send (it raised a bare
    ``UnicodeEncodeError`` while sending; aiohttp sent an undecodable escape as it was
    written), in both runners, and when a connection names such a proxy.

    :raises requests.exceptions.InvalidProxyURL: a login or password past latin-1, decoded.
    """
    if "@" not in proxy:
        return
    try:
        login, password = get_auth_from_url(prepend_scheme_if_needed(proxy, "http"))
        if login:
            f"{login}:{password}".encode("latin-1")
    except UnicodeEncodeError:
        raise requests.exceptions.InvalidProxyURL(PROXY_CREDENTIALS_TEXT) from None
    except (ValueError, LocationValueError):  # a URL refused on its own (``checked_proxy``)
        return


def checked_proxy(proxy: str) -> str:
    """``proxy`` as requests reads and checks it before sending through it, with its errors
    (``HTTPAdapter.get_connection_with_tls_context`` and ``proxy_manager_for``): ``http://``
    put before it when it names no scheme, then a host, and an ``http`` or ``https`` scheme;
    returned without its user-info when requests would send no credentials to it.
    The requests runner is requests; the aiohttp runner checks its proxy with this, so a
    proxy one refuses, the other refuses alike, before any request (aiohttp would quote the
    URL whole, its password with it, or try a ``socks5://`` or ``ftp://`` proxy as http).

    :raises requests.exceptions.InvalidProxyURL: no host.
    :raises requests.exceptions.InvalidURL: a URL urllib3 cannot parse, or another scheme.
    :raises requests.exceptions.InvalidSchema: a SOCKS proxy (the aiohttp runner has no SOCKS,
        and requests has it only with PySocks).
    :raises ValueError: a URL Python's parser refuses (``Invalid IPv6 URL``: a ``[`` in the
        password), as requests raises it (``HTTPAdapter.request_url``).
    """
    raw = proxy
    try:
        proxy = prepend_scheme_if_needed(proxy, "http")
        parsed = parse_url(proxy)
        if not parsed.host:
            raise requests.exceptions.InvalidProxyURL(NO_PROXY_HOST_TEXT)
        login = get_auth_from_url(proxy)[0]  # then its credentials are read (a ``ValueError``)
        if proxy.lower().startswith("socks"):
            raise requests.exceptions.InvalidSchema("Missing dependencies for SOCKS support.")
        if parsed.scheme not in ("http", "https"):
            raise ProxySchemeUnknown(parsed.scheme)
    except LocationValueError as exc:  # as requests words it (``HTTPAdapter.send``)
        raise requests.exceptions.InvalidURL(exc) from None
    urlsplit(raw)  # then requests reads the proxy as given (``HTTPAdapter.request_url``)
    check_proxy_credentials(proxy)
    if parsed.auth and not login:
        # requests sends no Proxy-Authorization without a login (``http://:pw@``, or a login
        # alone, ``http://key@``, whose missing password it reads as none); aiohttp would
        return parsed._replace(auth=None).url
    return proxy


# --- cookies -----------------------------------------------------------------------------------


class CookieHeaders:
    """Response header lines as ``http.cookiejar`` reads them (``get_all``): what both runners
    keep cookies from."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs

    def get_all(self, name: str, default: Any = None) -> list[str]:
        lowered = name.lower()
        found = [value for key, value in self._pairs if key.lower() == lowered]
        return found or (default if default is not None else [])

    def info(self) -> CookieHeaders:
        return self


def store_cookies(
    jar: RequestsCookieJar,
    url: str,
    request_headers: Mapping[str, str | bytes],
    pairs: list[Any],
    also: RequestsCookieJar | None = None,
) -> None:
    """Keep the cookies a response (its raw header ``pairs``) sets, by the jar's policy
    (``http.cookiejar``'s, as requests uses: IP hosts included): in ``jar``, and in ``also``
    (read once for both: ``jar.extract_cookies``, but for the second jar)."""
    prepared = requests.PreparedRequest()
    prepared.url, prepared.headers = url, requests.structures.CaseInsensitiveDict(request_headers)
    request = MockRequest(prepared)
    for cookie in jar.make_cookies(CookieHeaders(pairs), request):  # type: ignore[arg-type]
        # each jar its own (requests' set_cookie changes a quoted value in place)
        copies = [(jar, cookie)] + ([(also, copy.copy(cookie))] if also is not None else [])
        for keeper, kept in copies:
            if keeper._policy.set_ok(kept, request):  # type: ignore[arg-type]
                keeper.set_cookie(kept)


def cookie_header(
    jar: CookieJar, url: str, headers: Mapping[str, str | bytes] | None = None
) -> str | None:
    """The ``Cookie`` value the jar sends to ``url``, or ``None`` (also when ``headers``
    already hold a ``Cookie``: the caller's own wins, as in requests)."""
    prepared = requests.PreparedRequest()
    prepared.url = url
    prepared.headers = requests.structures.CaseInsensitiveDict(headers or {})
    if "Cookie" in prepared.headers:
        return None
    return requests.cookies.get_cookie_header(jar, prepared)


# --- errors ------------------------------------------------------------------------------------


#: Methods resent once when the connection closes before any byte of answer (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def stale_connection_cause(error: BaseException) -> bool:
    """Whether ``error`` is a connection closed before any byte of answer: most often a
    kept-alive one the server closed after its last response without saying
    ``Connection: close`` (whether a client notices that before sending is a race). A TLS
    handshake that failed is none: its connection was a new one (urllib3 reads a close inside
    it as a TLS error, aiohttp a reset as well as a close)."""
    if tls_cause(error):
        return False
    return any(
        isinstance(cause, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError)
        for cause in causes(error)
    )


def tls_cause(error: BaseException) -> bool:
    """Whether TLS refused something behind ``error`` (an alert the other end sent, a record
    that does not decrypt): a TLS error in both runners, whenever it comes."""
    return any(
        isinstance(cause, ssl.SSLError | requests.exceptions.SSLError) for cause in causes(error)
    )


def header_limit_cause(error: BaseException) -> bool:
    """Whether http.client refused the header section (a line too long, too many lines)."""
    return any(
        isinstance(cause, http.client.LineTooLong) or type(cause) is http.client.HTTPException
        for cause in causes(error)
    )


def timeout_cause(error: BaseException) -> bool:
    """Whether a socket read timed out somewhere behind ``error``."""
    return any(isinstance(cause, socket.timeout | TimeoutError) for cause in causes(error))


def _not_regular(path: str) -> bool:
    """Whether ``path`` is there but neither a file nor a directory (a FIFO, a device, a
    socket), or is a directory holding such an entry (OpenSSL opens a CA directory's files
    during a handshake, on a triggerer's loop), without opening any."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            with os.scandir(path) as entries:
                return any(_not_regular_entry(entry) for entry in entries)
    except (OSError, ValueError):
        return False  # missing or unreadable: ssl says why
    return not stat.S_ISREG(mode)


def _not_regular_entry(entry: os.DirEntry[str]) -> bool:
    try:
        return not (entry.is_file() or entry.is_dir())  # a link followed, as OpenSSL does
    except OSError:
        return False


@functools.lru_cache(maxsize=64)
def tls_context(cafile: str | None, cert: tuple[str, ...] | None) -> ssl.SSLContext:
    """The TLS settings of a request as one context, shared (loading a bundle costs ms): the CA
    bundle (a file, or a directory of hashed certificates, as requests takes it; ``None``:
    verify nothing) and the client certificate (a file, or a certificate and a key).

    Both runners check their files here, when a request goes to an https URL (as requests
    checks them): a file that cannot be used is a setting no retry mends.

    :raises ConditionError: naming the option and the file, and why.
    """
    if cafile is not None and _not_regular(cafile):  # a FIFO or a device: opening or reading
        # it may wait without end (on a triggerer's loop)
        why = "it holds an entry that is not a file" if os.path.isdir(cafile) else "not a file"
        raise ConditionError(f"verify: the CA bundle {cafile!r} cannot be used ({why})")
    try:
        if cafile is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif os.path.isdir(cafile):
            context = ssl.create_default_context(capath=cafile)
        else:
            context = ssl.create_default_context(cafile=cafile)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConditionError(
            f"verify: the CA bundle {cafile!r} cannot be used ({_file_problem(exc)})"
        ) from None
    if cert:
        for path in cert:  # ssl names neither file when one is missing
            if not os.path.isfile(path):
                why = "a directory" if os.path.isdir(path) else "no such file"
                raise ConditionError(
                    f"cert: the client certificate file {path!r} cannot be used "
                    f"({'not a file' if _not_regular(path) else why})"
                )
        try:  # an encrypted key would have OpenSSL ask for its passphrase on the terminal
            context.load_cert_chain(cert[0], cert[1] if len(cert) > 1 else None, _no_passphrase)
        except (OSError, ValueError) as exc:
            files = " and ".join(map(repr, cert))
            raise ConditionError(
                f"cert: the client certificate {files} cannot be used ({_file_problem(exc)})"
            ) from None
    return context


def tls_context_of(verify: bool | str, cert: str | tuple[str, ...] | None) -> ssl.SSLContext:
    """``tls_context`` of requests' own ``verify`` and ``cert`` (``True``: certifi's bundle)."""
    cafile = DEFAULT_CA_BUNDLE_PATH if verify is True else verify or None
    certs = (cert,) if isinstance(cert, str) else tuple(cert) if cert else None
    return tls_context(cafile, certs)


class _EncryptedKey(ValueError):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey("its key is encrypted; give a key without a passphrase")


def _file_problem(error: BaseException) -> str:
    """Why a TLS file cannot be used, without ssl's source location."""
    if isinstance(error, _EncryptedKey):
        return str(error)
    if isinstance(error, ssl.SSLError):
        return f"not PEM that OpenSSL reads: {error.reason or 'PEM_LIB'}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)
