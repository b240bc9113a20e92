"""What a matched response hands on downstream (the sensor's XCom, the trigger's event)."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from httsleep_airflow._conditions import LongInteger, decode_json, jsonpath_value, parse_jsonpath
from httsleep_airflow._secrets import EVENT_TEXT_LIMIT, MASK, covered, replaced, scrub, shorten

if TYPE_CHECKING:
    import requests


class PayloadError(ValueError):
    """The value asked for cannot be taken from the matched response."""


def response_payload(
    response: requests.Response, jsonpath: str | None = None, secrets: tuple[str, ...] = ()
) -> Any:
    """The JSON body (its text when it is not JSON), or just the value ``jsonpath`` selects.

    The value is the server's data as it sent it, but for a string or number that is a
    credential the request carries, which is ``***`` (``masked_echoes``); the messages are
    redacted (``secrets``). It is the same in every mode (poke, reschedule, deferrable): plain
    JSON. A number JSON cannot carry (``NaN``, ``Infinity``, ``-Infinity``, which Python's
    decoder accepts), or anything else XCom cannot carry (``uncarried``; in a text body, a NUL
    character) is an error naming where it is, never a silent ``null`` or a string.

    :param secrets: strings the error messages must not show (the plan's ``secrets``): they
        quote the body, and a path is made of its keys.
    :raises PayloadError: ``jsonpath`` is given and the body is not JSON or has no match, or the
        value holds NaN or an infinity.
    """
    try:
        body = decode_json(response)
    except ValueError:
        if jsonpath is None:
            if "\0" in response.text:
                message = f"the response's text has {_NUL}, which XCom cannot carry"
                raise PayloadError(message) from None
            return masked_echoes(response.text, secrets)
        raise PayloadError(
            f"xcom_jsonpath {jsonpath!r} needs a JSON body; got "
            + repr(scrub(response.text, secrets, 120))
        ) from None
    if jsonpath is None:
        value, where = body, "$"
    else:
        found, value = jsonpath_value(parse_jsonpath(jsonpath), body)
        if not found:
            raise PayloadError(
                f"xcom_jsonpath {jsonpath!r} matched nothing in "
                + scrub(response.text, secrets, 120)
            )
        where = jsonpath
    bad = uncarried(value)
    if bad is not None:
        path, what = bad
        raise PayloadError(
            scrub(
                f"the matched value has {what} at {where}{path}, which XCom cannot carry; "
                "select another value with xcom_jsonpath",
                secrets,
                EVENT_TEXT_LIMIT,  # a path of the server's keys may be as long as its body
            )
        )
    return masked_echoes(value, secrets, where)


def masked_echoes(value: Any, secrets: tuple[str, ...], where: str = "$") -> Any:
    """``value`` (plain JSON data) with each string (a value or a key) or number that is a
    credential of the request as ``***``: one made of whole forms of ``secrets`` (``covered``:
    ``"Bearer <token>"`` is ``"Bearer ***"``). A server that echoes a credential back does not
    put it in XCom (the database, the UI) or a trigger's event. Nothing else is changed: text
    that holds a credential among other text, or only a part of one, is the server's data, as
    a downstream task uses it (a result URL's own signature, base64 that begins alike).

    :raises PayloadError: two keys of one object are credentials: masked, they would be one.
    """
    if not secrets or not _holds_any(value, secrets):
        return value
    return _masked(value, secrets, where)


def _masked(value: Any, secrets: tuple[str, ...], where: str) -> Any:
    if isinstance(value, str):
        return _masked_text(value, secrets)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return MASK if covered(str(value), secrets) else value
    if isinstance(value, list):
        return [_masked(child, secrets, f"{where}[{i}]") for i, child in enumerate(value)]
    if isinstance(value, dict):
        masked: dict[Any, Any] = {}
        for key, child in value.items():
            shown = _masked_text(key, secrets) if isinstance(key, str) else key
            if shown in masked:
                raise PayloadError(
                    shorten(
                        f"the matched value has two keys at {where} that are credentials of "
                        "the request, which XCom would show; select another value with "
                        "xcom_jsonpath",
                        EVENT_TEXT_LIMIT,
                    )
                )
            masked[shown] = _masked(child, secrets, f"{where}.{shown}")
        return masked
    return value


def _holds_any(value: Any, secrets: tuple[str, ...]) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return any(form in text for form in secrets)  # a form JSON escapes is one of its forms too


def _masked_text(text: str, secrets: tuple[str, ...]) -> str:
    return replaced(text, secrets) if covered(text, secrets) else text


#: The integers Airflow carries (it sends events and XCom values as MessagePack: 64 bits).
_LOWEST, _HIGHEST = -(2**63), 2**64 - 1
#: A run of digits long enough to be an integer past them.
_LONG_NUMBER = re.compile(r"\d{19}")
#: Keys of Airflow's serializer (``airflow.sdk.serde``): it refuses to store a dict holding
#: ``__classname__`` or ``__id__``, and reads a dict holding ``__type`` and ``__var`` back as
#: another value (``{"__type": "datetime", "__var": 0}`` a datetime, an unknown type an error),
#: when an XCom is pulled and when a trigger's event reaches the worker.
_RESERVED_KEYS = ("__classname__", "__id__")
_OLD_STYLE_KEYS = ("__type", "__var")
#: Where one of them may be, in JSON text.
_RESERVED_TEXT = re.compile(r'"__(?:classname__|id__|type)"')


def _reserved_key(item: dict[Any, Any]) -> str | None:
    """The key of Airflow's serializer that ``item`` holds (``_RESERVED_KEYS``), or ``None``."""
    for key in _RESERVED_KEYS:
        if key in item:
            return key
    if all(key in item for key in _OLD_STYLE_KEYS):
        return "__type with __var"
    return None


#: PostgreSQL's JSONB, where Airflow keeps XCom values and a deferred task's event, refuses it.
_NUL = "a NUL character (\\u0000)"


def _uncarried_item(item: Any) -> str | None:
    """What about ``item`` alone (not its children) XCom cannot carry, or ``None``."""
    if isinstance(item, float) and not math.isfinite(item):
        return "NaN" if math.isnan(item) else "Infinity" if item > 0 else "-Infinity"
    if isinstance(item, LongInteger) or (
        isinstance(item, int) and not isinstance(item, bool) and not _LOWEST <= item <= _HIGHEST
    ):
        return "an integer past 64 bits"
    if isinstance(item, str) and not _encodes(item):
        return "a lone surrogate (\\ud800-\\udfff)"
    if isinstance(item, str) and "\0" in item:
        return _NUL
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def uncarried(value: Any) -> tuple[str, str] | None:
    """``(path, what)`` of the first thing in ``value`` that XCom (JSON, then MessagePack)
    cannot carry as it is: NaN or an infinity, an integer past 64 bits, a string or a key
    holding a lone surrogate (Python's JSON decoder accepts all three) or a NUL character
    (PostgreSQL refuses it), a dict holding a key of
    Airflow's serializer (``_reserved_key``); ``None`` when there is none. Looked
    for by JSON's own encoder first (a path a value made a large document slow to check); the
    paths are worked out only when one may be there. A path is ``""`` for ``value`` itself,
    else like ``.result[2].score``."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        pass
    else:
        if (
            _encodes(text)
            and "\\u0000" not in text
            and not _LONG_NUMBER.search(text)
            and not _RESERVED_TEXT.search(text)
        ):
            return None
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        what = _uncarried_item(item)
        if what is not None:
            return path, what
        if isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and not _encodes(key):
                    return sendable(f"{path}.{key}"), "a key with a lone surrogate"
                if isinstance(key, str) and "\0" in key:
                    return sendable(f"{path}.{key}"), f"a key with {_NUL}"
            reserved = _reserved_key(item)
            if reserved is not None:
                return sendable(path), f"a key Airflow's serializer reserves ({reserved})"
            stack.extend((child, f"{path}.{key}") for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None


def sendable(text: str) -> str:
    """``text`` as Airflow can send and store it (UTF-8, and PostgreSQL's JSONB): a lone
    surrogate and a NUL character as U+FFFD."""
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if _encodes(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def sendable_value(value: Any) -> Any:
    """Plain data (a trigger event's field) as Airflow can send it: text with a lone surrogate
    or a NUL character with U+FFFD in its place, an integer past 64 bits as its text (an XCom
    value is refused instead: ``uncarried``)."""
    if isinstance(value, str):
        return sendable(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _LOWEST <= value <= _HIGHEST else str(value)
    if isinstance(value, dict):
        return {sendable(str(key)): sendable_value(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [sendable_value(child) for child in value]
    return value
