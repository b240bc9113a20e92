"""What a matched response hands on downstream (the sensor's XCom, the trigger's event)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from httsleep_airflow._conditions import decode_json, jsonpath_value, parse_jsonpath
from httsleep_airflow._secrets import scrub

if TYPE_CHECKING:
    import requests


class PayloadError(ValueError):
    """The value asked for cannot be taken from the matched response."""


def response_payload(
    response: requests.Response, jsonpath: str | None = None, secrets: tuple[str, ...] = ()
) -> Any:
    """The JSON body (its text when it is not JSON), or just the value ``jsonpath`` selects.

    The value is the server's data and is not redacted; the messages are (``secrets``). It is
    the same in every mode (poke, reschedule, deferrable): plain JSON. A number
    JSON cannot carry (``NaN``, ``Infinity``, ``-Infinity``, which Python's decoder accepts) is
    an error naming where it is, never a silent ``null`` or a string.

    :param secrets: strings the error messages must not show (the plan's ``secrets``): they
        quote the body, and a path is made of its keys.
    :raises PayloadError: ``jsonpath`` is given and the body is not JSON or has no match, or the
        value holds NaN or an infinity.
    """
    try:
        body = decode_json(response)
    except ValueError:
        if jsonpath is None:
            return response.text
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
    bad = non_finite(value)
    if bad is not None:
        path, number = bad
        name = "NaN" if math.isnan(number) else "Infinity" if number > 0 else "-Infinity"
        raise PayloadError(
            scrub(
                f"the matched value has {name} at {where}{path}, which JSON (and so XCom) "
                "cannot carry; select another value with xcom_jsonpath",
                secrets,
            )
        )
    return value


def non_finite(value: Any) -> tuple[str, float] | None:
    """``(path, number)`` of the first NaN or infinity in ``value`` (``""`` for ``value``
    itself, else like ``.result[2].score``), or ``None``. Looked for by JSON's own encoder
    first: the paths are worked out only when there is one (a path a value made a large
    document slow to check)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        pass
    else:
        return None
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return path, item
        elif isinstance(item, dict):
            stack.extend((child, f"{path}.{key}") for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None
