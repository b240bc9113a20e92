"""HttSleepHook: an Airflow connection turned into a configured ``requests.Session``."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook
from airflow.sdk.log import mask_secret
from requests.auth import HTTPBasicAuth

from httsleep_airflow._http import check_proxy_credentials, origin, same_origin
from httsleep_airflow._secrets import (
    MIN_SECRET_LENGTH,
    body_secrets,
    header_name,
    header_names,
    joined,
    listed,
    redact,
    scrub,
    secret_header_values,
    secret_query_values,
    shown_url,
    tidy,
    url_secrets,
)
from httsleep_airflow._sync import (
    BearerAuth,
    DigestAuth,
    HttSleeper,
    KeepAuthorization,
    auth_secrets,
    check_request_headers,
    check_url,
    strip_credentials,
)
from httsleep_airflow.exceptions import ConditionError

__all__ = [
    "BearerAuth",
    "ConnectionConfigError",
    "ConnectionSettings",
    "HttSleepHook",
    "check_endpoint",
    "make_request",
    "settings_from_connection",
]

#: The keys a connection's extra may hold.
EXTRA_KEYS = (
    "headers",
    "verify",
    "ca_bundle",
    "cert",
    "proxies",
    "timeout",
    "auth_type",
    "secret_headers",
    "test_endpoint",
)
AUTH_TYPES = ("basic", "digest", "bearer")
DEFAULT_TIMEOUT = 30.0


def argument_secrets(
    endpoint: Any,
    headers: Any,
    params: Any = None,
    secret_headers: Any = (),
    *,
    data: Any = None,
    json_body: Any = None,
) -> list[str]:
    """The secrets in a sensor's or trigger's own arguments, beside its connection's: the
    password in an absolute endpoint's user-info, secret-looking header, query and body values
    (for Airflow's masker; the engine finds them again in the request it builds)."""
    found = [*secret_header_values(headers, secret_headers or ()), *url_secrets(endpoint)]
    found += secret_query_values(None, params)  # params in any shape requests takes
    return found + body_secrets(data, json_body)


#: The secrets this process has handed to Airflow's masker. Its ``add_mask`` compiles one
#: pattern of every secret it holds at every call that brings a new one (on the event loop,
#: in the triggerer), and keeps them all: each secret is handed over once per process, as
#: given (the engine's own redaction covers every form it takes in every line the engine
#: writes), none longer than ``MASKED_MAX_CHARS`` (a 4 KB token stalled the loop 0.76 s), at
#: most ``MASKED_PER_CALL`` at a time (one trigger's, one hook sleeper's) and ``MASKED_MAX`` in
#: all: the cost of each grows with those held before it (a body of a thousand secret-looking
#: values held the loop a minute; after 1,000 per-run tokens, each new trigger's held it 0.27 s;
#: a TaskFlow task polling 600 signed URLs took 80 ms a sleeper, rising).
_MASKED: set[str] = set()
MASKED_MAX_CHARS = 512
MASKED_PER_CALL = 8
MASKED_MAX = 64


def for_masker(secrets: Iterable[Any]) -> list[str]:
    """Which of ``secrets`` go to Airflow's masker now, within its bounds (``_MASKED``); they
    are recorded as handed over."""
    chosen: list[str] = []
    for given in secrets:
        if len(chosen) >= MASKED_PER_CALL or len(_MASKED) >= MASKED_MAX:
            break
        secret = given.decode("latin-1") if isinstance(given, bytes) else given  # as sent
        if not isinstance(secret, str) or secret in _MASKED or len(secret) > MASKED_MAX_CHARS:
            continue
        if len(secret) < MIN_SECRET_LENGTH:  # blanked out as words by no one: not handed over
            continue
        _MASKED.add(secret)
        chosen.append(secret)
    return chosen


def has_header(headers: Mapping[str, Any] | None, name: str) -> bool:
    """Whether ``headers`` hold ``name``, in any case."""
    if not headers:
        return False
    return any(header_name(given) == name.lower() for given in headers)


def has_authorization(headers: Mapping[str, Any] | None) -> bool:
    """Whether ``headers`` carry their own ``Authorization``, which wins over the connection's
    auth (the documented precedence)."""
    return has_header(headers, "Authorization")


def is_absolute(endpoint: str | None) -> bool:
    """Whether ``endpoint`` is a full http(s) URL rather than a path under the base URL."""
    return isinstance(endpoint, str) and endpoint[:8].lower().startswith(("http://", "https://"))


_SCHEME = re.compile(r"\s*([a-z][a-z0-9+.\-]*):", re.IGNORECASE)


def check_endpoint(endpoint: Any) -> str:
    """``endpoint`` if it is an absolute http(s) URL or a path under the base URL.

    What looks like a URL of another kind is an error, not a path: another scheme
    (``ftp://x``, ``file:///etc/passwd``, ``htp://host/x``), a scheme-relative URL
    (``//host/x``) or a mistyped http(s) one (``http//host/x``, ``https:/host``).

    :raises ConditionError: the message says what is wrong.
    """
    if not isinstance(endpoint, str):
        raise ConditionError(f"endpoint must be a string, not {type(endpoint).__name__}")
    if is_absolute(endpoint):
        try:
            return check_url(endpoint)
        except ConditionError:
            raise ConditionError(
                f"endpoint {shown_url(endpoint)!r} is not an http(s) URL like 'https://host/path'"
            ) from None
    problem = misread_url(endpoint)
    if problem is not None:
        raise ConditionError(
            f"endpoint {shown_url(endpoint)!r} is {problem} (a path is joined to the "
            "connection's base URL)"
        )
    return endpoint


def misread_url(text: str) -> str | None:
    """What is wrong with ``text``, a path or host that is a URL of another kind or a mistyped
    http(s) one (see ``check_endpoint``); ``None`` when it is none of these."""
    lowered = text.strip().lower()
    scheme = _SCHEME.match(lowered)
    if lowered.startswith(("//", "\\\\")):
        return "a scheme-relative URL; give the full 'https://host/path'"
    if re.match(r"https?/", lowered) or (
        scheme is not None and scheme.group(1) in ("http", "https")
    ):
        return "a mistyped http(s) URL; write 'https://host/path'"
    if scheme is not None and lowered[scheme.end() :].startswith("/"):
        return f"a URL with the scheme {scheme.group(1)!r}; only http and https are polled"
    return None


def check_params(params: Any) -> None:
    """Raise ``ConditionError`` unless ``params`` (query parameters) is ``None``, a mapping or
    a list of ``(name, value)`` pairs: a query string is refused here, where it would fail at
    the first poll in words that name neither the task nor the key."""
    pairs = isinstance(params, list | tuple) and all(
        isinstance(pair, list | tuple) and len(pair) == 2 for pair in params
    )
    if params is not None and not isinstance(params, Mapping) and not pairs:
        raise ConditionError(
            "request_params must map query parameter names to values (a dict, or a list of "
            f"(name, value) pairs), not be a {type(params).__name__}"
        )


def make_request(
    url: str,
    *,
    method: str = "GET",
    params: Mapping[str, Any] | None = None,
    data: Any = None,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Request:
    """The request every poll sends. Without data, its ``data`` and ``files`` are ``()``, which
    requests reads as the empty lists it would make: a waiting trigger holds its request, and
    those are two objects fewer for every full garbage collection to walk (a sleeper built on
    a caller's own Request or URL keeps requests' lists: callers may add to them)."""
    check_params(params)
    return requests.Request(
        method.upper(),
        url,
        params=dict(params or {}),
        data=() if data is None else data,
        files=(),
        json=json_body,
        headers=dict(headers or {}),
    )


@dataclass(frozen=True, repr=False)
class ConnectionSettings:
    """What a connection says about how to reach the API; checked when built."""

    conn_id: str
    base_url: str
    auth: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str | None = None
    cert: str | tuple[str, str] | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)
    timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT
    secrets: tuple[str, ...] = ()
    secret_headers: tuple[str, ...] = ()
    test_endpoint: str | None = None

    def __repr__(self) -> str:
        """Names and shapes only: no password, token, header value or proxy credential."""
        auth = type(self.auth).__name__ if self.auth is not None else None
        proxies = {scheme: shown_url(url) for scheme, url in self.proxies.items()}
        text = (
            f"ConnectionSettings(conn_id={self.conn_id!r}, "
            f"base_url={strip_credentials(self.base_url)!r}, auth={auth}, "
            f"headers={sorted(self.headers)!r}, verify={self.verify!r}, cert={self.cert!r}, "
            f"proxies={proxies!r}, timeout={self.timeout!r})"
        )
        return redact(text, tidy(self.secrets))

    def url_for(self, endpoint: str | None) -> str:
        """Join the base URL and ``endpoint``; an absolute URL is returned untouched."""
        if is_absolute(endpoint):
            return endpoint  # type: ignore[return-value]
        if not endpoint:
            return self.base_url
        return self.base_url.rstrip("/") + "/" + endpoint.lstrip("/")

    def new_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = self.auth
        session.headers.update(self.headers)
        if self.verify is not None:
            session.verify = self.verify
        if self.cert is not None:
            session.cert = self.cert
        session.proxies.update(self.proxies)
        return session


class ConnectionConfigError(ValueError):
    """A connection's fields or extra are wrong: retrying cannot help, so the task fails at
    once. ``detail`` is the message without the connection's name (the UI's Test button tests
    a connection under a temporary name)."""

    def __init__(self, conn_id: str, detail: str):
        super().__init__(f"connection {conn_id!r}: {detail}")
        self.conn_id = conn_id
        self.detail = detail


def _bad(conn_id: str, message: str) -> ConnectionConfigError:
    return ConnectionConfigError(conn_id, message)


#: The keys whose value may also come as text (a form field of Airflow 3.1 is a line of text):
#: a JSON object or array, or for ``timeout`` a number, means what it means written in the extra.
#: The keys requests chooses a proxy by: a scheme, or ``all``, alone or for one host.
_PROXY_KEY = re.compile(r"(?:https?|all)(?:://[^/\s]+)?")
TEXT_JSON_KEYS = ("headers", "proxies", "cert", "timeout", "secret_headers")


def _from_text(conn_id: str, key: str, value: Any) -> Any:
    """``value``, or what the text ``value`` of a structured key stands for."""
    if not isinstance(value, str) or key not in TEXT_JSON_KEYS:
        return value
    text = value.strip()
    if text[:1] in ("{", "[") or key == "timeout":
        try:
            return json.loads(text)
        except ValueError as exc:  # its message gives the place, never the text
            what = "seconds or [connect, read]" if key == "timeout" else "valid JSON"
            raise _bad(conn_id, f"extra {key!r} is not {what} ({exc})") from None
    return value


def _parse_extra(conn_id: str, extra: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """The extra's options, one rule for every source: hand-written JSON, the connection form's
    fields (bare or as ``extra__httsleep__<key>``) and their text forms mean the same; an empty
    value (``null``, ``""``) means the key's default."""
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError as exc:
            raise _bad(conn_id, f"extra is not valid JSON ({exc})") from None
    if not isinstance(extra, Mapping):
        raise _bad(conn_id, f"extra must be a JSON object, not {type(extra).__name__}")
    prefix = f"extra__{HttSleepHook.conn_type}__"
    cleaned = {key.removeprefix(prefix): value for key, value in extra.items()}
    return {
        key: _from_text(conn_id, key, value)
        for key, value in cleaned.items()
        if value not in (None, "")
    }


def _verify(conn_id: str, options: Mapping[str, Any]) -> bool | str | None:
    """The TLS verification of ``verify`` and ``ca_bundle``: ``None`` (requests' default:
    verify against the system's CAs), ``False`` (do not verify) or a CA bundle path (given as
    ``ca_bundle`` or, as requests spells it, ``verify``)."""
    verify = options.get("verify")
    if isinstance(verify, str) and verify.strip().lower() in ("true", "false"):
        verify = verify.strip().lower() == "true"
    if verify is not None and not isinstance(verify, bool | str):
        raise _bad(conn_id, "extra 'verify' must be true, false or a CA bundle path")
    bundle = options.get("ca_bundle")
    if bundle is None:
        return verify
    if not isinstance(bundle, str):
        raise _bad(conn_id, "extra 'ca_bundle' must be the path of a PEM file")
    if verify is False:
        raise _bad(
            conn_id,
            "extra 'verify' is false but 'ca_bundle' is set: empty one of them (a CA bundle "
            "is used only when verifying)",
        )
    if isinstance(verify, str) and verify != bundle:
        raise _bad(conn_id, "extra 'verify' and 'ca_bundle' name two CA bundles: keep one")
    return bundle


def _base_url(conn_id: str, host: str | None, schema: str | None, port: int | None) -> str:
    """The base URL of ``host``, ``schema`` and ``port``. Errors quote the host as
    ``shown_url`` shows it, never a parser's message (which may quote it whole)."""
    if not host:
        raise _bad(conn_id, "host is empty; set it to the API's base URL or host name")
    problem = None if "://" in host else misread_url(host)
    if problem is not None:
        raise _bad(conn_id, f"host {shown_url(host)!r} is {problem}")
    if "://" not in host and schema and schema.lower() not in ("http", "https"):
        raise _bad(
            conn_id,
            f"schema {schema!r} is not 'http' or 'https': it is the scheme of the host's URL (a "
            "base path goes with the host, 'https://host/v1', or in each endpoint)",
        )
    given: int | None = None
    try:
        if "://" in host:
            base = host
            with contextlib.suppress(ValueError):  # a port that is no number: said below
                given = urlsplit(host).port
            if port and given is None:
                parts = urlsplit(host)
                base = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
        else:
            scheme = schema or "http"
            base = f"{scheme}://{host}" + (f":{port}" if port else "")
    except ValueError:
        raise _bad(conn_id, f"host {shown_url(host)!r} cannot be read as a URL") from None
    if port and given is not None and given != port:
        raise _bad(
            conn_id,
            f"host {shown_url(host)!r} has the port {given} and the Port field {port}: give the "
            "port once",
        )
    try:
        urlsplit(base).port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise _bad(
            conn_id, f"host {shown_url(host)!r} has a port that is not a number from 0 to 65535"
        ) from None
    try:
        check_url(base)
    except ValueError:
        raise _bad(
            conn_id, f"host {shown_url(host)!r} is not an http(s) URL like 'https://host/path'"
        ) from None
    return base


def _numbers(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    schema: str | None = None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    extra: str | Mapping[str, Any] | None = None,
) -> ConnectionSettings:
    """Check a connection's fields and extra; the errors name the connection and the key."""
    from httsleep_airflow._core import check_timeout

    options = _parse_extra(conn_id, extra)
    unknown = sorted(set(options) - set(EXTRA_KEYS))
    if unknown:
        raise _bad(
            conn_id,
            f"unknown extra key {', '.join(map(repr, unknown))}; allowed keys: "
            f"{', '.join(EXTRA_KEYS)} (HTTP headers go under 'headers')",
        )
    headers = options.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise _bad(conn_id, "extra 'headers' must be an object of string names to string values")
    verify = _verify(conn_id, options)
    cert = options.get("cert")
    if isinstance(cert, list):
        cert = tuple(cert)
    if cert is not None and not (
        isinstance(cert, str) or (isinstance(cert, tuple) and len(cert) == 2)
    ):
        raise _bad(conn_id, "extra 'cert' must be a path or a [cert, key] pair of paths")
    proxies = options.get("proxies", {})
    if not isinstance(proxies, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in proxies.items()
    ):
        raise _bad(conn_id, "extra 'proxies' must be an object like {'https': 'http://proxy:3128'}")
    for scheme, proxy in proxies.items():
        if not _PROXY_KEY.fullmatch(scheme):  # requests would never choose it: sent direct
            raise _bad(
                conn_id,
                f"extra 'proxies': {scheme!r} is no key a proxy is chosen by: use 'http', "
                "'https' or 'all', alone or with '://host' ('https://api.example')",
            )
        if "://" not in proxy:
            raise _bad(
                conn_id,
                f"extra 'proxies': the {scheme!r} proxy must be a URL like 'http://proxy:3128'",
            )
        try:
            check_proxy_credentials(proxy)
        except requests.exceptions.InvalidProxyURL as exc:
            raise _bad(conn_id, f"extra 'proxies': the {scheme!r} proxy: {exc}") from None
    secret_headers = options.get("secret_headers", [])
    if isinstance(secret_headers, str):  # one name alone, as the sensor takes it
        secret_headers = [secret_headers]
    if not isinstance(secret_headers, list) or not all(
        isinstance(name, str) for name in secret_headers
    ):
        raise _bad(conn_id, "extra 'secret_headers' must be a list of header names")
    test_endpoint = options.get("test_endpoint")
    if test_endpoint is not None and not isinstance(test_endpoint, str):
        raise _bad(conn_id, "extra 'test_endpoint' must be a path like '/health'")
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    pair = isinstance(timeout, list) and len(timeout) == 2
    if timeout is not None and not _numbers(timeout if pair else [timeout]):
        # before check_timeout, whose message quotes the value: it may quote numbers only
        raise _bad(conn_id, "extra 'timeout' must be seconds or [connect, read] seconds")
    try:
        timeout = check_timeout(timeout)
    except ValueError as exc:
        raise _bad(conn_id, f"extra {exc}") from None
    auth_type = str(options.get("auth_type", "basic")).lower()
    if auth_type not in AUTH_TYPES:
        raise _bad(conn_id, f"extra 'auth_type' must be one of {', '.join(AUTH_TYPES)}")

    auth: Any = None
    if auth_type == "bearer":
        if not password:
            raise _bad(conn_id, "auth_type 'bearer' needs the token in the password field")
        auth = BearerAuth(password)
    elif login or password:
        auth = (DigestAuth if auth_type == "digest" else HTTPBasicAuth)(login or "", password or "")
    try:
        check_request_headers(headers, auth, "extra 'headers'", "password (the bearer token)")
    except ValueError as exc:
        raise _bad(conn_id, str(exc)) from None
    base_url = _base_url(conn_id, host, schema, port)
    secrets = [*auth_secrets(auth), *secret_header_values(headers, secret_headers)]
    secrets += url_secrets(base_url)  # a password in the host's user-info
    for proxy in proxies.values():
        secrets += url_secrets(proxy, proxy=True)  # a proxy's password
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=base_url,
        auth=auth,
        headers=dict(headers),
        verify=verify,
        cert=cert,
        proxies=dict(proxies),
        timeout=timeout,
        secrets=tuple(secrets),
        secret_headers=tuple(name.lower() for name in secret_headers),
        test_endpoint=test_endpoint,
    )


def settings_of(conn_id: str, conn: Any) -> ConnectionSettings:
    """``settings_from_connection`` for an Airflow ``Connection`` object."""
    return settings_from_connection(
        conn_id,
        host=conn.host,
        schema=conn.schema,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        extra=conn.extra,
    )


class HttSleepHook(BaseHook):
    """Talk to an HTTP job API described by an Airflow connection.

    The connection's host is the base URL (``https://api.example.com/v1``) or a host name
    completed by schema (``http``/``https``) and port. Login and password give HTTP Basic auth;
    the extra (JSON) may hold ``headers``, ``verify``, ``cert``, ``proxies``, ``timeout`` and
    ``auth_type`` (``basic``, ``digest`` or ``bearer``: the password is the bearer token).

    :param httsleep_conn_id: the connection id.
    """

    conn_name_attr = "httsleep_conn_id"
    default_conn_name = "httsleep_default"
    conn_type = "httsleep"
    hook_name = "HttSleep"

    def __init__(self, httsleep_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.httsleep_conn_id = httsleep_conn_id
        self._settings: ConnectionSettings | None = None
        self._session: requests.Session | None = None

    @property
    def settings(self) -> ConnectionSettings:
        """The checked connection settings, read once per hook; its secrets, in every form
        they take, are registered with Airflow's masker."""
        if self._settings is None:
            settings = settings_of(
                self.httsleep_conn_id, self.get_connection(self.httsleep_conn_id)
            )
            for secret in tidy(settings.secrets, deep=False):
                mask_secret(secret)
            self._settings = settings
        return self._settings

    def get_conn(self) -> requests.Session:
        """The configured session, built once per hook and reused."""
        if self._session is None:
            self._session = self.settings.new_session()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def url_for(self, endpoint: str | None) -> str:
        """The base URL joined with ``endpoint``; an absolute URL passes through untouched
        (and then no connection is looked up).

        :raises ConditionError: ``endpoint`` is a URL of another kind (``check_endpoint``).
        """
        if endpoint:
            check_endpoint(endpoint)
        if is_absolute(endpoint):
            return endpoint  # type: ignore[return-value]
        return self.settings.url_for(endpoint)

    def request_options(self) -> dict[str, Any]:
        """The connection's per-request settings: ``timeout``, and ``verify`` when it sets one.

        ``verify`` goes with each request, not only on the session: requests lets
        ``REQUESTS_CA_BUNDLE`` override a session's ``verify``, and the connection must win.
        """
        settings = self.settings
        options: dict[str, Any] = {"timeout": settings.timeout}
        if settings.verify is not None:
            options["verify"] = settings.verify
        return options

    def sleeper(
        self,
        endpoint: str | None,
        until: Any,
        alarms: Any = None,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> HttSleeper:
        """An ``HttSleeper`` for ``endpoint`` that polls through this connection's session.

        The connection's credentials (auth, headers, client certificate) go only to its own
        origin (scheme, host and port of its base URL): an absolute URL on another origin is
        polled as a plain request, with none of the connection's settings but its timeout.
        """
        url = self.url_for(endpoint)
        request = make_request(
            url,
            method=method,
            params=params,
            data=data,
            json_body=json_body,
            headers=headers,
        )
        settings = self.settings
        # The caller's secret header names add to the connection's, never replace them.
        secret_headers = [*settings.secret_headers, *(options.pop("secret_headers", None) or ())]
        if not same_origin(url, settings.base_url):
            options = {"timeout": settings.timeout, **options}
            sleeper = HttSleeper(request, until, alarms, secret_headers=secret_headers, **options)
        else:
            if has_authorization(headers):  # the caller's own Authorization wins
                request.auth = KeepAuthorization()
            options = {
                **self.request_options(),
                **options,
                "secret_headers": secret_headers,
                "secrets": [*settings.secrets, *listed(options.get("secrets"))],
                # the connection's headers go to its origin only, as its auth does (a header of
                # the caller's own, of the same name, replaces the connection's: as requests)
                "origin_headers": [
                    *(name for name in settings.headers if not has_header(headers, name)),
                    *header_names(options.get("origin_headers"), "origin_headers"),
                ],
            }
            sleeper = HttSleeper(request, until, alarms, session=self.get_conn(), **options)
        # the request's own too (a secret query parameter, header or body value): a line
        # the task writes itself, or a library's, shows none of them (as they are: the masker
        # makes its own forms; the engine's thousand would each compile its pattern again)
        own = argument_secrets(url, headers, params, secret_headers, data=data, json_body=json_body)
        for secret in for_masker(own):
            mask_secret(secret)
        return sleeper

    def poll(self, endpoint: str | None, until: Any, alarms: Any = None, **options: Any) -> Any:
        """Poll ``endpoint`` until ``until`` holds and return the ``requests.Response``.

        For use inside a TaskFlow ``@task``. ``options`` are those of ``sleeper()`` and of the
        engine (``max_retries``, ``polling_interval``, ``ignore_exceptions``, ``timeout``...).
        """
        return self.sleeper(endpoint, until, alarms, **options).run()

    #: The longest the UI's Test button waits for an answer, redirects included.
    TEST_SECONDS = 15.0

    def test_connection(self) -> tuple[bool, str]:
        """What the UI's *Test* button shows: one GET, to the connection's ``test_endpoint``
        (which must answer 2xx) or else to its base URL (any answer but 401/403, 407 or 5xx:
        the API is reachable and takes the credentials). It is sent as a poll is
        (``sleeper().send_once()``): redirects are followed with the credentials only within
        the connection's origin, and a ``test_endpoint`` on another origin gets none; one that
        ends on another origin than the one asked is no pass (nothing checked the
        credentials). It waits ``TEST_SECONDS`` at most. Messages name no connection id: the
        UI tests under a temporary one."""
        try:
            settings = self.settings
        except ConnectionConfigError as exc:
            return False, f"the connection being tested: {exc.detail}"
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        secrets = tidy(settings.secrets)
        try:
            sleeper = self.sleeper(settings.test_endpoint, {"status_code": 200})
        except ValueError as exc:  # a test_endpoint that is not a path or an http(s) URL
            return False, f"test_endpoint: {scrub(str(exc), secrets, 500)}"
        secrets = joined(secrets, sleeper.secrets)
        where = f"GET {strip_credentials(str(sleeper.request.url))}"
        deadline = sleeper.request_deadline
        try:  # a button waits: no longer than TEST_SECONDS, whatever the timeouts
            response = sleeper.send_once(
                self.TEST_SECONDS if deadline is None else min(deadline, self.TEST_SECONDS)
            )
        except Exception as exc:
            text = scrub(f"{type(exc).__name__}: {exc}", secrets, 500)
            return False, f"{where} failed: {text}"
        finally:
            sleeper.close()  # the session it made for another origin; the hook's stays open
        answer = scrub(f"{where} answered {response.status_code} {response.reason}", secrets, 500)
        status = response.status_code
        asked = str(sleeper.request.url)
        if not same_origin(asked, response.url or asked):
            scheme, host, port = origin(response.url)
            return False, (
                f"{answer}, redirected to another origin ({scheme}://{host}:{port}), where the "
                "connection's credentials are not sent: they were not checked; give that "
                "origin as the connection's host"
            )
        if settings.test_endpoint:
            ok = 200 <= status < 300
        else:
            ok = status not in (401, 403, 407) and status < 500
        if ok:
            return True, answer
        hint = {
            401: "the credentials were refused",
            403: "the credentials were refused",
            407: "the proxy refused its credentials",
        }.get(status, "the API is not healthy" if status >= 500 else "expected a 2xx answer")
        return False, f"{answer}: {hint}"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's own fields, for Airflow 3.1's UI (later versions read
        ``conn-fields`` of the provider info): the same table, each field a line of text, a
        choice where the schema lists one."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from wtforms import StringField
        from wtforms.validators import Optional, any_of

        from httsleep_airflow.get_provider_info import CONN_FIELDS

        widgets = {}
        for name, spec in CONN_FIELDS.items():
            validators = [Optional()]
            if "enum" in spec["schema"]:
                validators.append(any_of(spec["schema"]["enum"]))
            widgets[name] = StringField(
                spec["label"],
                validators=validators,
                description=spec["description"],
                widget=BS3TextFieldWidget(),
            )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Labels and placeholders of the standard fields, for Airflow 3.1's UI."""
        from httsleep_airflow.get_provider_info import UI_FIELD_BEHAVIOUR

        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
