"""What the async runner asks of aiohttp to behave as requests does, for a floor to ask the
same (``bench_poll_cost``'s rows, ``bench_triggers``' "floor + requests' behaviour"): requests'
default headers (with the runner's ``Accept-Encoding``), a read timeout (requests' ``timeout``
per read), and a deadline around the whole request (``request_deadline``).
"""

from __future__ import annotations

from typing import Any

#: Every extra, by name.
ALL = ("headers", "read_timeout", "deadline")
#: Seconds, as requests' ``timeout``: per connect and per read.
TIMEOUT = 30.0


def request_options(extras: tuple[str, ...]) -> tuple[dict[str, Any], float | None]:
    """The options of ``session.get`` for ``extras``, and the seconds of the deadline to put
    around each request (``asyncio.timeout``; ``None``: none)."""
    import aiohttp
    from requests.utils import default_headers

    from httsleep_airflow._core import ACCEPT_ENCODING, request_deadline

    options: dict[str, Any] = {}
    if "headers" in extras:
        options["headers"] = {**default_headers(), "Accept-Encoding": ACCEPT_ENCODING}
    if "read_timeout" in extras:
        options["timeout"] = aiohttp.ClientTimeout(
            total=None, sock_connect=TIMEOUT, sock_read=TIMEOUT
        )
    deadline = request_deadline(TIMEOUT) if "deadline" in extras else None
    if deadline is not None and "read_timeout" not in extras:
        options["timeout"] = aiohttp.ClientTimeout(total=None)  # the deadline instead
    return options, deadline
