"""What a matched response hands on downstream (the sensor's XCom, the trigger's event)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from httsleep_airflow._conditions import jsonpath_value, parse_jsonpath
from httsleep_airflow._secrets import scrub

if TYPE_CHECKING:
    import requests


class PayloadError(ValueError):
    """The value asked for cannot be taken from the matched response."""


def response_payload(
    response: requests.Response, jsonpath: str | None = None, secrets: tuple[str, ...] = ()
) -> Any:
    """The JSON body (its text when it is not JSON), or just the value ``jsonpath`` selects.

    The value is the server's data and is not redacted; the messages are (``secrets``).

    :raises PayloadError: ``jsonpath`` is given and the body is not JSON or has no match.
    """
    try:
        body = response.json()
    except ValueError:
        if jsonpath is None:
            return response.text
        raise PayloadError(
            f"xcom_jsonpath {jsonpath!r} needs a JSON body; "
            f"got {scrub(response.text, secrets, 120)!r}"
        ) from None
    if jsonpath is None:
        return body
    found, value = jsonpath_value(parse_jsonpath(jsonpath), body)
    if not found:
        raise PayloadError(
            f"xcom_jsonpath {jsonpath!r} matched nothing in {scrub(response.text, secrets, 120)}"
        )
    return value
