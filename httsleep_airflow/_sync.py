"""The blocking runner: ``httsleep()`` and ``HttSleeper`` over ``requests``."""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from httsleep_airflow._conditions import Rules, meets, normalized
from httsleep_airflow._core import (
    DEFAULT_RETRY_AFTER_CAP,
    Done,
    Policy,
    Poller,
    Sleep,
    check_seconds,
    check_timeout,
)
from httsleep_airflow._secrets import (
    basic_secrets,
    mask_url_parts,
    redact,
    secret_header_values,
    secret_query_values,
    tidy,
    url_secrets,
)
from httsleep_airflow.exceptions import BLOCKING_FORM, ConditionError, GaveUp, ResponseTooLarge

__all__ = ["BearerAuth", "HttSleeper", "Plan", "httsleep", "origin_of"]


#: The default ``max_body_bytes``: far above any job status document.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


def auth_secrets(auth: Any) -> list[str]:
    """What a requests ``auth`` sends that must not be shown: a token, a password, and the
    ``Basic`` header value made from it."""
    if isinstance(auth, BearerAuth):
        return [auth.token] if auth.token else []
    if isinstance(auth, HTTPDigestAuth):
        return [auth.password] if auth.password else []
    if isinstance(auth, HTTPBasicAuth):
        return basic_secrets(auth.username, auth.password)
    if isinstance(auth, tuple) and len(auth) == 2:
        return basic_secrets(*auth)
    return []


def request_secrets(
    request: requests.Request,
    session: requests.Session | None = None,
    secret_headers: Iterable[str] = (),
) -> tuple[str, ...]:
    """The secrets ``request`` carries (auth, a password in the URL, secret-looking header and
    query values, and the values of ``secret_headers``), with those the ``session`` adds."""
    found = [*url_secrets(request.url), *auth_secrets(request.auth)]
    found += secret_header_values(request.headers, secret_headers)
    found += secret_query_values(None, request.params)
    if session is not None:
        found += auth_secrets(session.auth) + secret_header_values(session.headers, secret_headers)
    return tidy(found)


class _Missing:
    """Sentinel for "not given", where ``None`` is a meaningful value (``json=None``)."""

    def __repr__(self) -> str:
        return "<not given>"


MISSING: Any = _Missing()

_SHORTHAND = ("status_code", "text", "json", "jsonpath", "callback")


def classic_number(name: str, value: Any, cast: Callable[[str], Any]) -> Any:
    """``value``, or a numeric string cast as the classic library cast it (deprecated)."""
    if not isinstance(value, str):
        return value
    try:
        number = cast(value)
    except ValueError:
        raise ConditionError(f"{name} must be a number, not {value!r}") from None
    warnings.warn(
        f"{name}={value!r}: numbers given as strings are deprecated; pass {number!r}",
        DeprecationWarning,
        stacklevel=4,
    )
    return number


def merge_shorthand(until: Any, shorthand: Mapping[str, Any], stacklevel: int) -> Any:
    """Fold the classic shorthand keywords (``status_code=200``...) into one ``until`` dict."""
    given = {key: value for key, value in shorthand.items() if value is not MISSING}
    if not given:
        return until
    if until is not None:
        raise ConditionError(
            f"give conditions either in until or as keywords ({', '.join(given)}), not both"
        )
    warnings.warn(
        f"condition keywords ({', '.join(given)}) are deprecated; pass until={given!r}",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return given


def strip_credentials(url: str) -> str:
    """``url`` without ``user:password@`` and with secret-looking parameters (query, fragment,
    path parameters) as ``***``, for log lines and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_url_parts(url)
    if "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return mask_url_parts(url)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``url``, as requests (urllib3) will connect to it: where
    credentials for it may go. A URL that urllib3 and the standard library read as different
    hosts (``http://a\\@b/``) has no origin credentials may go to (an empty host)."""
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split_host = (split.hostname or "").lower()
        split_port = split.port
    except (ValueError, LocationParseError):
        return "", "", 0
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").lower().strip("[]")
    if host != split_host.strip("[]") or (parsed.port or None) != split_port:
        return scheme, "", 0
    return scheme, host, parsed.port or _DEFAULT_PORTS.get(scheme, 0)


#: Never in a URL's authority: requests and the standard library would read the host apart.
_AUTHORITY_NEVER = re.compile(r"[\\\s\x00-\x1f\x7f]")


def check_url(url: Any) -> str:
    if not isinstance(url, str):
        raise ConditionError(f"url must be a string, not {type(url).__name__}")
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:  # an invalid IPv6 address or port
        valid = False
    if not valid or _AUTHORITY_NEVER.search(authority):
        shown = redact(url, tidy(url_secrets(url)))
        raise ConditionError(f"{shown!r} is not an http(s) URL like 'https://host/path'")
    return url


def build_request(
    url_or_request: str | requests.Request,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Request:
    """A new ``requests.Request``: a URL means GET; a Request's own auth and headers win."""
    merged: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
    if isinstance(url_or_request, str):
        return requests.Request("GET", check_url(url_or_request), headers=merged, auth=auth)
    if isinstance(url_or_request, requests.Request):
        source = url_or_request
        merged.update(source.headers or {})
        return requests.Request(
            method=(source.method or "GET").upper(),
            url=check_url(source.url),
            headers=merged,
            files=source.files,
            data=source.data,
            json=source.json,
            params=source.params,
            auth=source.auth if source.auth is not None else auth,
            cookies=source.cookies,
            hooks=source.hooks,
        )
    raise ConditionError(
        "url_or_request must be a URL string or a requests.Request, "
        f"not {type(url_or_request).__name__}"
    )


def describe_request(request: requests.Request) -> str:
    """``"METHOD url?query"`` without credentials, for log lines."""
    try:
        url = requests.Request(url=request.url, params=request.params).prepare().url
    except requests.RequestException:  # its own message would quote the whole URL
        url = None
    return f"{request.method} {strip_credentials(url or request.url)}"


class Plan:
    """What both runners share: the checked conditions, policy and request of one endpoint.

    :param url_or_request: a URL (polled with GET) or a ``requests.Request`` (any method, body,
        params).
    :param until: a condition dict (all keys must hold) or a list of them (any may hold).
    :param alarms: same shape; checked before ``until`` on every response; a match raises
        ``Alarm``.
    :param auth: requests auth for every poll (a Request's own auth wins).
    :param headers: headers for every poll (a Request's own headers win).
    :param verify: TLS verification: ``True``/``False`` or a CA bundle path; ``None`` leaves the
        session's and the environment's setting.
    :param polling_interval: seconds between polls (fractions honoured).
    :param max_retries: total number of requests per run; ``None`` for no limit.
    :param ignore_exceptions: exception classes (or dotted paths) that count as a failed attempt
        instead of ending the run. ``Alarm`` is never ignored.
    :param timeout: per-request timeout in seconds, a ``(connect, read)`` pair, or ``None``.
    :param retry_after_cap: the longest wait a ``Retry-After`` header can ask for, in seconds.
    :param max_wait: overall seconds a run may take before ``DeadlineExceeded``; ``None``: no limit.
    :param max_body_bytes: the largest body read (10 MiB by default); a larger one raises
        ``ResponseTooLarge`` instead of filling memory. ``None``: no limit.
    :param clock: the clock ``max_wait`` is measured on (monotonic by default).
    :param secrets: more strings that messages must not show.
        The request's own are found without help: its auth, secret-looking header and query
        values and a password in the URL. Each is replaced by ``***`` in log lines and exception
        messages, in every form it may take (``_secrets.tidy``).
    :param secret_headers: more header names whose values are credentials, beside those that
        look secret (``_secrets.is_secret_name``): redacted, and never sent to another origin.
    """

    def __init__(
        self,
        url_or_request: str | requests.Request,
        until: Any = None,
        alarms: Any = None,
        *,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str | None = None,
        polling_interval: float = 2,
        max_retries: int | None = 50,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        timeout: float | tuple[float, float] | None = 30,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        max_wait: float | None = None,
        max_body_bytes: int | None = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        secrets: Iterable[str] = (),
        secret_headers: Iterable[str] = (),
    ):
        max_retries = classic_number("max_retries", max_retries, int)
        polling_interval = classic_number("polling_interval", polling_interval, float)
        self.rules = Rules(until, alarms)
        self.secret_headers = frozenset(str(name).lower() for name in secret_headers)
        self.policy = Policy.build(
            max_retries=max_retries,
            polling_interval=polling_interval,
            ignore_exceptions=ignore_exceptions,
            retry_after_cap=retry_after_cap,
        )
        self.request = build_request(url_or_request, auth=auth, headers=headers)
        self.label = describe_request(self.request)
        self.secrets = tidy(
            [*request_secrets(self.request, secret_headers=self.secret_headers), *secrets]
        )
        self.timeout = check_timeout(timeout)
        self.max_wait = None if max_wait is None else check_seconds("max_wait", max_wait)
        self.verify = verify
        if max_body_bytes is not None and (
            isinstance(max_body_bytes, bool)
            or not isinstance(max_body_bytes, int)
            or max_body_bytes < 1
        ):
            raise ConditionError(
                f"max_body_bytes must be a positive int or None, not {max_body_bytes!r}"
            )
        self.max_body_bytes = max_body_bytes
        self._clock = clock

    # --- the classic attributes: settable where the classic library allowed it, checked again

    @property
    def until(self) -> list[dict[str, Any]]:
        """The ``until`` conditions, as a list of dicts (``status_code`` read back as an int)."""
        return normalized(self.rules.until)

    @until.setter
    def until(self, value: Any) -> None:
        self.rules = Rules(value, self.rules.alarms and self.rules.alarms.to_specs())

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """The ``alarms`` conditions, as a list of dicts (``[]`` for none)."""
        return normalized(self.rules.alarms)

    @alarms.setter
    def alarms(self, value: Any) -> None:
        self.rules = Rules(self.rules.until.to_specs(), value)

    @property
    def max_retries(self) -> int | None:
        return self.policy.max_retries

    @max_retries.setter
    def max_retries(self, value: int | None) -> None:
        self._change_policy(max_retries=classic_number("max_retries", value, int))

    @property
    def polling_interval(self) -> float:
        return self.policy.polling_interval

    @polling_interval.setter
    def polling_interval(self, value: float) -> None:
        self._change_policy(polling_interval=classic_number("polling_interval", value, float))

    @property
    def ignore_exceptions(self) -> tuple[type[BaseException], ...]:
        return self.policy.ignore_exceptions

    @ignore_exceptions.setter
    def ignore_exceptions(self, value: Iterable[type[BaseException] | str] | None) -> None:
        self._change_policy(ignore_exceptions=value)

    @property
    def kwargs(self) -> dict[str, Any]:
        """What every request is sent with, in the classic form: ``{"verify": ...}`` when set."""
        return {} if self.verify is None else {"verify": self.verify}

    def _change_policy(self, **changes: Any) -> None:
        current = self.policy
        self.policy = Policy.build(
            **{
                "max_retries": current.max_retries,
                "polling_interval": current.polling_interval,
                "ignore_exceptions": current.ignore_exceptions,
                "retry_after_cap": current.retry_after_cap,
                **changes,
            }
        )

    @staticmethod
    def meets_condition(response: requests.Response, condition: dict[str, Any]) -> bool:
        """Whether ``response`` meets one condition dict, by this package's rules (a key that is
        present always counts, even with a falsy value)."""
        return meets(response, condition)

    def check_body_size(self, size: int | None) -> None:
        """Raise ``ResponseTooLarge`` once ``size`` bytes (declared, or read so far) pass
        ``max_body_bytes``. Both runners read bodies through this one rule."""
        limit = self.max_body_bytes
        if limit is not None and size is not None and size > limit:
            raise ResponseTooLarge(
                f"{self.label}: the response body is larger than max_body_bytes ({limit} bytes; "
                f"{size} or more)",
                limit=limit,
            )

    def poller(self, *, attempts_made: int = 0, **options: Any) -> Poller:
        """A fresh poll state machine for one run (``options``: ``log``, ``noun``)."""
        deadline = None if self.max_wait is None else self._clock() + self.max_wait
        return Poller(
            self.rules,
            self.policy,
            label=self.label,
            attempts_made=attempts_made,
            deadline=deadline,
            secrets=self.secrets,
            **options,
        )


class HttSleeper(Plan):
    """Poll one HTTP endpoint until a response meets ``until``; raise at once on an alarm.

    Takes the arguments of ``Plan``, and:

    :param session: a ``requests.Session`` to use and leave open; by default the HttSleeper owns
        one, reused across polls and runs (see ``close()``).
    :param sleep: the sleeping function (tests pass a recorder).

    The keywords ``status_code``, ``text``, ``json``, ``jsonpath`` and ``callback`` are the
    classic shorthand for ``until={...}``; they are deprecated.
    """

    def __init__(
        self,
        url_or_request: str | requests.Request,
        until: Any = None,
        alarms: Any = None,
        auth: Any = None,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        verify: bool | str | None = None,
        polling_interval: float = 2,
        max_retries: int | None = 50,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        loglevel: int | str | None = None,
        *,
        sleep: Callable[[float], Any] | None = None,
        status_code: Any = MISSING,
        text: Any = MISSING,
        json: Any = MISSING,
        jsonpath: Any = MISSING,
        callback: Any = MISSING,
        **options: Any,
    ):
        shorthand = {
            "status_code": status_code,
            "text": text,
            "json": json,
            "jsonpath": jsonpath,
            "callback": callback,
        }
        until = merge_shorthand(until, shorthand, stacklevel=2)
        set_classic_loglevel(loglevel, stacklevel=2)
        super().__init__(
            url_or_request,
            until,
            alarms,
            auth=auth,
            headers=headers,
            verify=verify,
            polling_interval=polling_interval,
            max_retries=max_retries,
            ignore_exceptions=ignore_exceptions,
            **options,
        )
        if session is not None:  # a configured session (a connection's) adds its own
            self.secrets = tidy(
                [*self.secrets, *request_secrets(self.request, session, self.secret_headers)]
            )
        self._session = session
        self._owns_session = session is None
        self._sleep = sleep or time.sleep  # looked up now, so that a patched time.sleep applies
        self._send_options: dict[str, Any] | None = None

    @property
    def session(self) -> requests.Session:
        """The session polls go through (created on first use when none was given)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    @session.setter
    def session(self, session: requests.Session) -> None:
        """Poll through ``session`` from now on (it is left open; the classic allowed this)."""
        self.close()
        self._session, self._owns_session, self._send_options = session, False, None
        self.secrets = tidy([*self.secrets, *request_secrets(self.request, session)])

    def close(self) -> None:
        """Close the session this HttSleeper created (a session passed in is left open)."""
        if self._owns_session and self._session is not None:
            self._session.close()
            self._session = None
            self._send_options = None

    def __enter__(self) -> HttSleeper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_once(self) -> requests.Response:
        """Send one request, as every poll does.

        What ``requests.get`` would read from the environment (proxies, CA bundle) is read at
        the first poll and kept: the URL does not change between polls, and reading it costs
        more than the request itself on a keep-alive connection.
        """
        session = self.session
        prepared = session.prepare_request(self.request)  # per poll: cookies can change
        if self._send_options is None:
            settings = session.merge_environment_settings(prepared.url, {}, None, self.verify, None)
            self._send_options = {**settings, "timeout": self.timeout, "allow_redirects": True}
            self._send_options["stream"] = self.max_body_bytes is not None  # read it capped
        response = session.send(prepared, **self._send_options)
        if self.max_body_bytes is not None:
            try:
                self._read_capped(response)
            except ResponseTooLarge:
                response.close()
                raise
        return response

    def _read_capped(self, response: requests.Response) -> None:
        """Read the body as ``response.content`` would, but never past ``max_body_bytes``."""
        declared = response.headers.get("Content-Length", "")
        self.check_body_size(int(declared) if declared.isdigit() else None)
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            self.check_body_size(size)
            chunks.append(chunk)
        response._content = b"".join(chunks)
        response._content_consumed = True

    def run(self, *, attempts_made: int = 0, **options: Any) -> requests.Response:
        """Poll until ``until`` is met; each run starts with the full attempt budget.

        :param attempts_made: attempts already spent elsewhere, counted against ``max_retries``.
        :param options: for the poll state machine: ``log`` (a logger), ``noun`` ("poll").
        :returns: the response that met ``until``.
        :raises Alarm: a response matched an alarm.
        :raises MaxRetriesExceeded: ``max_retries`` requests, none matched.
        :raises DeadlineExceeded: ``max_wait`` passed, none matched.
        """
        poller = self.poller(attempts_made=attempts_made, **options)
        while True:
            action = poller.next_action(self._clock())
            if isinstance(action, Done):
                return action.response
            if isinstance(action, Sleep):
                if action.seconds > 0:  # sleeping 0 s still costs a system call
                    self._sleep(action.seconds)
                continue
            try:
                outcome: requests.Response | Exception = self.send_once()
            except Exception as exc:
                outcome = exc
            try:
                poller.receive(outcome, self._clock())
            except GaveUp as exc:  # in the StopIteration form the classic API promises
                raise BLOCKING_FORM[type(exc)](
                    str(exc), attempts=exc.attempts, response=exc.response
                ) from exc.__cause__


def httsleep(
    url_or_request: str | requests.Request,
    until: Any = None,
    alarms: Any = None,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    verify: bool | str | None = None,
    polling_interval: float = 2,
    max_retries: int | None = 50,
    ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
    loglevel: int | str | None = None,
    **options: Any,
) -> requests.Response:
    """Poll until a response meets ``until`` and return it.

    ``HttSleeper(...).run()`` with the same arguments, in the classic library's order; see
    ``HttSleeper`` and ``Plan`` for each of them and for the further keyword-only ``options``
    (``timeout``, ``retry_after_cap``, ``max_wait``, ``sleep``, ``clock``, the deprecated
    condition keywords).
    """
    shorthand = {key: options.pop(key) for key in _SHORTHAND if key in options}
    set_classic_loglevel(loglevel, stacklevel=2)
    with HttSleeper(
        url_or_request,
        merge_shorthand(until, shorthand, stacklevel=2),
        alarms,
        auth,
        headers,
        session,
        verify,
        polling_interval,
        max_retries,
        ignore_exceptions,
        **options,
    ) as sleeper:
        return sleeper.run()


def set_classic_loglevel(loglevel: int | str | None, stacklevel: int) -> None:
    """The classic ``loglevel=``: deprecated; it sets this package's logger level (the classic
    set the root logger's, which is not a library's to touch)."""
    if loglevel is None:
        return
    warnings.warn(
        "loglevel= is deprecated: configure the 'httsleep_airflow' logger instead",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    logging.getLogger("httsleep_airflow").setLevel(loglevel)
