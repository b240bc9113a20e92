"""HttSleepSensor: wait until an HTTP response meets declarative conditions."""

from __future__ import annotations

import inspect
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import requests
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
    PokeReturnValue,
)
from airflow.sdk.log import mask_secret

# An ignore that lists unused-ignore is needed on one Airflow version only (3.1 or 3.3).
try:
    from airflow.sdk.configuration import conf  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # Airflow < 3.2
    from airflow.configuration import conf

from httsleep_airflow._conditions import Rules, checked_jsonpath
from httsleep_airflow._core import (
    LAST_LOOK_SECONDS,
    Done,
    Policy,
    PollLog,
    Sleep,
    check_seconds,
    check_timeout,
)
from httsleep_airflow._dotted import display_name, dotted_path_of
from httsleep_airflow._http import check_headers, check_json_body, check_method
from httsleep_airflow._payload import PayloadError, response_payload
from httsleep_airflow._secrets import (
    EVENT_TEXT_LIMIT,
    header_names,
    secret_header_values,
    shorten,
    tidy,
)
from httsleep_airflow._sync import HttSleeper
from httsleep_airflow.exceptions import Alarm, ConditionError, GaveUp, HttSleepError
from httsleep_airflow.hooks.httsleep import (
    ConnectionConfigError,
    HttSleepHook,
    argument_secrets,
    check_endpoint,
    check_params,
    is_absolute,
    make_request,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from httsleep_airflow.triggers.httsleep import HttSleepTrigger

__all__ = ["HttSleepSensor"]


# Condition specs already validated in this process, by their repr: a DAG file that builds many
# sensors from equal conditions validates them once (and the DAG processor re-parses it often).
# A repr stands for the value for the plain data conditions are made of; callables show their
# identity in it, so two different functions never share an entry.
_VALIDATED: set[str] = set()


#: Airflow's words when ``never_fail`` skips a sensor whose poke raised.
_NEVER_FAIL = "Skipping due to never_fail is set to True."

#: How long after the sensor's ``timeout`` Airflow's own deferral timeout ends a deferred wait:
#: a backstop for a trigger that never ran. The trigger ends the wait itself at the timeout,
#: with the message of every mode (a last look, then ``gave up: deadline passed``); Airflow's
#: scheduler, looking every 15 s, would otherwise end some waits first, with its own message.
DEFERRAL_SLACK = LAST_LOOK_SECONDS + 10


def _validate_conditions(until: Any, alarms: Any, deferrable: bool) -> None:
    key = repr((until, alarms, deferrable))
    if key in _VALIDATED:
        return
    rules = Rules(until, alarms)
    if deferrable:
        for function, name in rules.callbacks():
            if "<" not in getattr(function, "__qualname__", ""):  # lambdas: to_data says why
                _check_triggerer_importable(function, f"callback {name}")
        rules.to_data()  # what the trigger will carry: no lambdas, no closures
    if len(_VALIDATED) >= 1024:
        _VALIDATED.clear()
    _VALIDATED.add(key)


def _is_under(path: str, folder: str | None) -> bool:
    if not folder:
        return False
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == (
            os.path.realpath(folder)
        )
    except ValueError:  # different drives
        return False


def _check_triggerer_importable(obj: Any, what: str) -> None:
    """Raise unless the triggerer could import ``obj`` by its dotted path.

    The triggerer is a fresh interpreter with ``$AIRFLOW_HOME/plugins`` and the installed
    packages on its path, not the DAG folder; Airflow imports DAG files under mangled module
    names. So an object from ``__main__``, from a DAG file, or from a module whose file lies
    under the DAG folder (outside the plugins folder) cannot be imported there.
    """
    module_name = getattr(obj, "__module__", None) or ""
    code = getattr(obj, "__code__", None)
    module_file = getattr(sys.modules.get(module_name), "__file__", None) or getattr(
        code, "co_filename", None
    )
    dags_folder = conf.get("core", "dags_folder", fallback=None)
    plugins_folder = conf.get("core", "plugins_folder", fallback=None)
    reason = None
    if module_name == "__main__":
        reason = "it is defined in __main__"
    elif module_name.startswith("unusual_prefix_") or module_name not in sys.modules:
        reason = f"it is defined in a DAG file ({module_file or module_name})"
    elif (
        module_file
        and _is_under(module_file, dags_folder)
        and not _is_under(module_file, plugins_folder)
    ):
        reason = f"its module {module_name!r} lies in the DAG folder ({module_file})"
    if reason is not None:
        raise ConditionError(
            f"{what} cannot run in deferrable mode: {reason}, and the triggerer imports it by "
            "its dotted path with only $AIRFLOW_HOME/plugins/ and installed packages on its "
            "path. Move it to a module in $AIRFLOW_HOME/plugins/ (or an installed package) and "
            "import it from there, or pass its 'module.function' path"
        )


@cache
def _default_timeout() -> float:
    """``[sensors] default_timeout``, read once per process.

    BaseSensorOperator reads it for every sensor built without a ``timeout`` (about 10 us each, a
    tenth of building one). Like ``[operators] default_deferrable`` it is fixed for a process, and
    the DAG processor parses each file in a fresh one.
    """
    seconds: float = conf.getfloat("sensors", "default_timeout")
    return seconds


def _check_airflow_seconds(class_name: str, kwargs: Mapping[str, Any]) -> None:
    """What BaseSensorOperator would take wrongly: ``True`` as 1.0 s, an infinity (its own
    ``OverflowError``)."""
    for key in ("timeout", "poke_interval"):
        value = kwargs.get(key)
        if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(
                f"{class_name} {kwargs.get('task_id')!r}: {key} must be seconds "
                f"(a finite number or a timedelta), not {value!r}"
            )


#: What ``partial`` checks an argument it is not given as, when ``__init__`` has no default for
#: it: a value rendered later (one that ``expand`` maps is checked once the task is expanded).
_EXPANDED_LATER = "{{ expanded }}"


@cache
def _own_defaults(cls: type) -> dict[str, Any]:
    """The defaults of ``cls.__init__``'s own (keyword-only) arguments, read from its signature
    (the one place they are written); ``_EXPANDED_LATER`` for those without one."""
    return {
        name: _EXPANDED_LATER if parameter.default is parameter.empty else parameter.default
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    }


def _partial_defaults(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``default_args`` a mapped sensor made by ``partial(**kwargs)`` gets: its DAG's and
    task group's, and its own, as Airflow's ``partial`` merges them."""
    from airflow.sdk.bases.operator import get_merged_defaults
    from airflow.sdk.definitions._internal.contextmanager import DagContext, TaskGroupContext

    dag = kwargs.get("dag") or DagContext.get_current()
    group = kwargs.get("task_group") or (TaskGroupContext.get_current(dag) if dag else None)
    defaults, _params = get_merged_defaults(
        dag=dag,
        task_group=group,
        task_params=None,
        task_default_args=kwargs.get("default_args"),
    )
    return dict(defaults)


def _known(value: Any) -> bool:
    """Whether ``value`` is what the task will use, before rendering: plain data without a
    Jinja template (an ``XComArg`` or another object Airflow resolves is not)."""
    if isinstance(value, str):
        return not _has_template(value)
    if isinstance(value, Mapping):
        return all(_known(key) and _known(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return all(_known(item) for item in value)
    return value is None or isinstance(value, int | float | bytes)


#: What stands for a templated value when conditions are checked before rendering: a value
#: valid where it is. Any other templated value (a callback's path) is left out.
_STAND_INS: dict[str, Any] = {"status_code": 200, "text": "", "json": None}


def _untemplated(spec: Any) -> Any:
    """``until`` or ``alarms`` with each templated value a valid stand-in: the keys, shapes
    and untemplated values are checked at parse, the templated ones once rendered. A spec
    that is a template as a whole (or a clause that is) is left to the render."""
    if isinstance(spec, list | tuple):
        kept = [_untemplated(clause) for clause in spec]
        return [clause for clause in kept if clause is not _RENDERED_LATER] or _RENDERED_LATER
    if not isinstance(spec, Mapping):
        return _RENDERED_LATER if _has_template(spec) else spec
    clause: dict[Any, Any] = {}
    for key, value in spec.items():
        if _has_template(key):
            return _RENDERED_LATER
        if key == "jsonpath" and isinstance(value, list | tuple | Mapping):
            entries = [value] if isinstance(value, Mapping) else value
            kept = [
                {**entry, "expression": "$"}
                if isinstance(entry, Mapping) and _has_template(entry.get("expression"))
                else entry
                for entry in entries
                if not (isinstance(entry, str) and _has_template(entry))
            ]
            if kept:
                clause[key] = kept
        elif isinstance(value, str) and _has_template(value):
            if key not in _STAND_INS:  # a callback's path, a jsonpath list as a template
                continue
            clause[key] = _STAND_INS[key]
        else:
            clause[key] = value  # a template inside text, json or a jsonpath value: still text
    return clause or _RENDERED_LATER


_RENDERED_LATER: Any = object()


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_has_template(k) or _has_template(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_template(item) for item in value)
    return False


def _exception_paths(classes: Any) -> list[str] | None:
    """``ignore_exceptions`` as dotted paths, for the trigger."""
    policy = Policy.build(ignore_exceptions=classes)
    if classes is None:
        return None
    paths = []
    for cls in policy.ignore_exceptions:
        what = f"ignore_exceptions: {display_name(cls)}"
        _check_triggerer_importable(cls, what)
        path = dotted_path_of(cls)
        if path is None:
            raise ConditionError(
                f"{what} cannot be imported by a dotted path in the triggerer: define it at "
                "module level in a module in $AIRFLOW_HOME/plugins/ (or an installed package)"
            )
        paths.append(path)
    return paths


#: The modules whose errors a deferred sensor raises again as they were raised in the triggerer
#: (``_error_like``): the runners' own, and what their conditions raise.
_REBUILT_MODULES = frozenset(
    {
        "builtins",
        "json.decoder",
        "requests.exceptions",
        "httsleep_airflow.exceptions",
        "httsleep_airflow._http",
        "httsleep_airflow._conditions",
        "httsleep_airflow._payload",
    }
)


def _error_like(error_type: Any, message: str, args: Any = None) -> Exception | None:
    """An error of the class the trigger's was (``module.Name``: an ``Exception`` class of one
    of ``_REBUILT_MODULES``, as loaded already: nothing is imported), holding its arguments
    (or its message) as it did, and saying what it said: in poke mode the poke raises that
    error itself, so failure callbacks see the same class in every mode. Built without its
    ``__init__`` (some take more than a message), else with it (those whose text their
    ``__init__`` makes: ``SyntaxError``); ``None`` when neither says the message again
    (``UnicodeDecodeError``, whose arguments an event cannot carry)."""
    if not isinstance(error_type, str):
        return None
    module_name, _, name = error_type.rpartition(".")
    module = sys.modules.get(module_name) if module_name in _REBUILT_MODULES else None
    cls = vars(module).get(name) if module is not None else None  # no module __getattr__
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    held = tuple(args) if isinstance(args, list) else (message,)
    for build in (_without_init, _with_init):
        try:
            error = build(cls, held)
            if shorten(str(error), EVENT_TEXT_LIMIT) == message:
                return error
        except Exception:
            continue
    return None


def _without_init(cls: type[Exception], args: tuple[Any, ...]) -> Exception:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


def _with_init(cls: type[Exception], args: tuple[Any, ...]) -> Exception:
    return cls(*args)


class HttSleepSensor(BaseSensorOperator):
    """Wait until a response from ``endpoint`` meets ``until``; fail at once on an ``alarm``.

    One poke sends exactly one request. A response matching an alarm fails the task at once,
    without using its retries; after ``max_retries`` pokes without a match the sensor gives up
    (``AirflowSensorTimeout``, no retries). ``soft_fail=True`` turns both into a skip. The
    sensor's own ``timeout`` still applies: whichever comes first ends the wait.

    :param endpoint: a path joined to the connection's base URL, or an absolute URL (then no
        connection is needed). (templated)
    :param until: a condition dict (all keys must hold) or a list of them (any may hold); keys
        ``status_code``, ``text``, ``json``, ``jsonpath``, ``callback``. (templated)
    :param alarms: conditions of the same shape that fail the task at once. (templated)
    :param httsleep_conn_id: the HttSleep connection. (templated)
    :param method: the HTTP method of every poke.
    :param request_params: query parameters. (templated)
    :param data: the request body, with requests' semantics (dict: form-encoded). (templated)
    :param json_body: a body sent as JSON. (templated)
    :param headers: extra headers; they win over the connection's. (templated)
    :param max_retries: pokes before giving up; ``None``: only the sensor ``timeout`` ends it.
    :param ignore_exceptions: exception classes or dotted paths; a poke raising one is "not yet".
    :param request_timeout: per-request timeout: seconds, ``(connect, read)``, or ``None``.
    :param xcom_jsonpath: push only this JSONPath's value from the matched response's JSON body
        (default: the whole JSON body, or its text when it is not JSON).
    :param secret_headers: more header names whose values are credentials (beside names with
        ``key``, ``token``, ``secret``, ``auth``... in them): masked in logs, never sent to
        another origin, sealed on their way to the triggerer.
    :param deferrable: after a first poke on the worker, wait in the triggerer (no worker slot);
        default ``[operators] default_deferrable``. Callbacks and ignored exceptions must then be
        importable in the triggerer: defined in a module in ``$AIRFLOW_HOME/plugins/`` or in an
        installed package, not in (or beside) the DAG file.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "request_params",
        "data",
        "json_body",
        "headers",
        "until",
        "alarms",
        "httsleep_conn_id",
    )
    template_fields_renderers = {
        "request_params": "json",
        "json_body": "json",
        "headers": "json",
        "until": "json",
        "alarms": "json",
    }
    ui_color = "#d9f0e3"

    # Set by execute(), for its pokes (class defaults keep DAG parsing cheap).
    _sleeper: HttSleeper | None = None
    _hook: HttSleepHook | None = None
    _pokes = 0
    # When the sensor's ``timeout`` ends (``time.monotonic()``): from when its wait began (the
    # first run of the try, in reschedule mode); ``None`` outside execute()
    _deadline: float | None = None
    _asked_wait = 0.0  # what the last response asked for with Retry-After (within the cap)
    _poll_log: PollLog | None = None

    # The arguments, as __init__ sets them (rendered from templates before execute()).
    endpoint: str
    until: Any
    alarms: Any
    httsleep_conn_id: str
    method: str
    request_params: Mapping[str, Any] | None
    data: Any
    json_body: Any
    headers: Mapping[str, str] | None
    max_retries: int | None
    ignore_exceptions: Iterable[type[BaseException] | str] | None
    request_timeout: float | tuple[float, float] | None
    xcom_jsonpath: str | None
    secret_headers: tuple[str, ...]
    deferrable: bool

    def __init__(
        self,
        *,
        endpoint: str,
        until: Any,
        alarms: Any = None,
        httsleep_conn_id: str = HttSleepHook.default_conn_name,
        method: str = "GET",
        request_params: Mapping[str, Any] | None = None,
        data: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        ignore_exceptions: Iterable[type[BaseException] | str] | None = None,
        request_timeout: float | tuple[float, float] | None = 30,
        xcom_jsonpath: str | None = None,
        secret_headers: Sequence[str] = (),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        _check_airflow_seconds(type(self).__name__, kwargs)
        if "timeout" not in kwargs and "timeout" not in (kwargs.get("default_args") or {}):
            kwargs["timeout"] = _default_timeout()
        super().__init__(**kwargs)
        # Set directly, not through BaseOperator.__setattr__: it costs about half a microsecond an
        # attribute (a converter lookup and XComArg bookkeeping, neither of which applies while
        # __init__ runs: Airflow walks the template fields for XComArgs once __init__ returns).
        # Many sensors in one DAG file make that a measurable share of parse time.
        vars(self).update(
            endpoint=endpoint,
            until=until,
            alarms=alarms,
            httsleep_conn_id=httsleep_conn_id,
            method=method,
            request_params=request_params,
            data=data,
            json_body=json_body,
            headers=headers,
            max_retries=max_retries,
            ignore_exceptions=ignore_exceptions,
            request_timeout=request_timeout,
            xcom_jsonpath=xcom_jsonpath,
            secret_headers=secret_headers,
            deferrable=deferrable,
        )
        # A mistake is a DAG import error; templated parts are checked again once rendered.
        self._check(rendered=False)

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:  # type: ignore[override, unused-ignore]
        """Airflow's ``partial``, with the arguments it is given checked as ``__init__`` checks
        them (a mistake is a DAG import error naming the task and the key); those ``expand``
        maps are checked once the task is expanded."""
        given = {**_partial_defaults(kwargs), **kwargs}
        _check_airflow_seconds(cls.__name__, given)
        probe = cls.__new__(cls)  # no operator: nothing is added to the DAG
        seconds = {
            key: value.total_seconds() if isinstance(value, timedelta) else value
            for key, value in given.items()
            if key in ("timeout", "poke_interval")
        }
        vars(probe).update(
            {name: given.get(name, default) for name, default in _own_defaults(cls).items()},
            task_id=given.get("task_id"),
            timeout=seconds.get("timeout", _default_timeout()),
            poke_interval=seconds.get("poke_interval", 60),
        )
        for name in ("until", "alarms"):  # an XComArg: resolved when the task is expanded
            if not isinstance(vars(probe)[name], str | Mapping | list | tuple | type(None)):
                vars(probe)[name] = _EXPANDED_LATER
        probe._check(rendered=False)
        return super().partial(**kwargs)

    def _check(self, *, rendered: bool) -> None:
        """Validate every argument the engine will use; errors name the task and the key."""
        try:
            vars(self).update(  # neither is templated: checked once, at parse
                method=check_method(self.method),
                secret_headers=header_names(self.secret_headers),
            )
            if rendered or not _has_template((self.until, self.alarms)):
                _validate_conditions(self.until, self.alarms, self.deferrable)
            else:  # a template stands where a value is not valid yet: the rest is checked
                until, alarms = _untemplated(self.until), _untemplated(self.alarms)
                if until is _RENDERED_LATER:  # the alarms are checked beside any valid until
                    until = None if alarms is _RENDERED_LATER else _STAND_INS
                if until is not None:
                    alarms = None if alarms is _RENDERED_LATER else alarms
                    _validate_conditions(until, alarms, self.deferrable)
            if self.deferrable:
                _exception_paths(self.ignore_exceptions)
            if self.max_retries is not None or self.ignore_exceptions is not None:
                Policy.build(max_retries=self.max_retries, ignore_exceptions=self.ignore_exceptions)
            check_timeout(self.request_timeout, "request_timeout")
            check_seconds("timeout", self.timeout)
            # 0 would poll as fast as the server answers (deferred: on a shared triggerer)
            check_seconds("poke_interval", self.poke_interval, allow_equal=False)
            if self.xcom_jsonpath is not None:
                if not isinstance(self.xcom_jsonpath, str):
                    raise ConditionError(
                        f"xcom_jsonpath must be a JSONPath string, not {self.xcom_jsonpath!r}"
                    )
                checked_jsonpath(self.xcom_jsonpath, "xcom_jsonpath")
            if rendered or _known(self.endpoint):
                check_endpoint(self.endpoint)
            if rendered or _known(self.headers):
                check_headers(self.headers)
            if rendered or _known(self.request_params):
                check_params(self.request_params)
            if rendered or _known(self.json_body):
                check_json_body(self.json_body)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__} {self.task_id!r}: {exc}") from None

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        self._hook = None  # each try reads the connection afresh
        # Before anything shows, logs or stores the rendered values: secret-looking header
        # values (``{"X-Api-Key": "{{ var.value.key }}"}``), those the connection names in its
        # ``secret_headers``, and a password in the endpoint's user-info are masked like the
        # connection's.
        names = (*self.secret_headers, *self._connection_secret_headers())
        own = argument_secrets(
            self.endpoint,
            self.headers,
            self.request_params,
            names,
            data=self.data,
            json_body=self.json_body,
        )
        for secret in tidy(own, deep=False):
            mask_secret(secret)

    def _connection_secret_headers(self) -> tuple[str, ...]:
        """The header names the connection marks secret, read through the hook execute()
        uses (one connection read for both). ``()`` when the sensor sends no headers or no
        connection, or when the connection cannot be read: execute() then reports why."""
        if not self.headers or not isinstance(self.headers, Mapping) or is_absolute(self.endpoint):
            return ()
        if self._hook is None:
            self._hook = HttSleepHook(httsleep_conn_id=self.httsleep_conn_id)
        try:
            return self._hook.settings.secret_headers
        except Exception:  # a missing or misconfigured connection: execute() raises it
            return ()

    def _build_sleeper(self) -> HttSleeper:
        request_options: dict[str, Any] = {
            "method": self.method,
            "params": self.request_params,
            "data": self.data,
            "json_body": self.json_body,
            "headers": self.headers,
        }
        engine_options: dict[str, Any] = {
            "timeout": self.request_timeout,
            "max_retries": self.max_retries,
            "ignore_exceptions": self._ignored,
            "polling_interval": 0,  # Airflow's poke_interval governs the waits
            "secret_headers": self.secret_headers,
        }
        if is_absolute(self.endpoint):
            request = make_request(self.endpoint, **request_options)
            return HttSleeper(request, self.until, self.alarms, **engine_options)
        if self._hook is None:  # else the one render_template_fields made, for this try
            self._hook = HttSleepHook(httsleep_conn_id=self.httsleep_conn_id)
        try:
            settings = self._hook.settings
        except ConnectionConfigError as exc:  # a mistake that no retry can fix
            raise AirflowFailException(f"{self.task_id}: {exc}") from None
        engine_options["secret_headers"] = self._secret_headers()
        # The connection may name more of the sensor's own headers as secret: mask them too.
        for secret in tidy(secret_header_values(self.headers, settings.secret_headers), deep=False):
            mask_secret(secret)
        return self._hook.sleeper(
            self.endpoint, self.until, self.alarms, **request_options, **engine_options
        )

    def _secret_headers(self) -> tuple[str, ...]:
        """The header names this sensor treats as credentials: its own, and its connection's."""
        if self._hook is None or self._hook._settings is None:
            return tuple(self.secret_headers)
        return (*self.secret_headers, *self._hook.settings.secret_headers)

    def execute(self, context: Context) -> Any:
        self._check(rendered=True)
        self._deadline = time.monotonic() + self.timeout - self._waited(context)
        self._sleeper = self._build_sleeper()
        self._pokes = 0
        self._poll_log = PollLog()  # one for all pokes of this run: repeats thin out
        try:
            if not self.deferrable:
                return super().execute(context)
            done = self._first_poke(context)  # attempt 1 happens here, on the worker
        finally:
            self._sleeper.close()
            if self._hook is not None:
                self._hook.close()
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        remaining = max(0.0, self._deadline - time.monotonic())
        attempts_made = int(context.get("task_reschedule_count") or 0) + self._pokes
        trigger = self._trigger(
            self._sleeper.rules,
            attempts_made=attempts_made,
            deadline=time.time() + remaining,
            retry_at=time.time() + self._asked_wait if self._asked_wait else None,
            follows=self._poll_log.fingerprint(),
        )
        if self.max_retries is not None:  # where a triggerer that takes over starts counting
            from httsleep_airflow.triggers._ledger import KEY

            context["ti"].xcom_push(key=KEY, value=attempts_made)
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining + DEFERRAL_SLACK),
        )

    def _waited(self, context: Context) -> float:
        """Seconds this try's wait has run: none, but in reschedule mode, where it began with
        the try's first run (as Airflow counts the sensor's ``timeout``)."""
        if not self.reschedule:
            return 0.0
        first = context["ti"].get_first_reschedule_date(context)
        return 0.0 if first is None else max(0.0, time.time() - first.timestamp())

    def _first_poke(self, context: Context) -> bool | PokeReturnValue:
        """The deferrable path's poke on the worker, its outcome what BaseSensorOperator.execute
        makes of a poke's: ``soft_fail`` and ``never_fail`` skip on a fail-fast error,
        ``silent_fail`` logs any other error and waits on, ``never_fail`` skips on it."""
        try:
            return self.poke(context)
        except (AirflowFailException, AirflowSensorTimeout, AirflowTaskTimeout) as exc:
            if self.soft_fail or self._never_fail:
                raise AirflowSkipException(f"Skipping: {exc}") from exc
            raise
        except AirflowSkipException:
            raise
        except Exception as exc:
            if self._silent_fail:
                self.log.error("Sensor poke failed: %s: %s", type(exc).__name__, exc)
                return False
            if self._never_fail:
                raise AirflowSkipException(_NEVER_FAIL) from exc
            raise

    @property
    def _silent_fail(self) -> bool:
        return bool(getattr(self, "silent_fail", False))

    @property
    def _ignored(self) -> Iterable[type[BaseException] | str] | None:
        """The exceptions a poll's outcome may be and still wait on: with ``silent_fail``, every
        one (Airflow's poke loop logs a poke's error and pokes on), counted against
        ``max_retries`` as each poll is, in every mode."""
        return (Exception,) if self._silent_fail else self.ignore_exceptions

    @property
    def _never_fail(self) -> bool:
        return bool(getattr(self, "never_fail", False))

    def _trigger(
        self,
        rules: Rules,
        *,
        attempts_made: int,
        deadline: float,
        retry_at: float | None = None,
        follows: str | None = None,
    ) -> HttSleepTrigger:
        # Imported here: the trigger brings aiohttp, which only deferring tasks need.
        from httsleep_airflow.triggers.httsleep import HttSleepTrigger, seal, split_secrets

        absolute = is_absolute(self.endpoint)
        timeout = self.request_timeout
        own = {
            "endpoint": self.endpoint,
            "headers": self.headers,
            "params": self.request_params,
            "data": self.data,
            "json_body": self.json_body,
        }
        shown, secrets = split_secrets(own, self._secret_headers())
        trigger = HttSleepTrigger(
            **shown,
            conditions=rules.to_data(),
            httsleep_conn_id=None if absolute else self.httsleep_conn_id,
            method=self.method,
            max_retries=self.max_retries,
            attempts_made=attempts_made,
            polling_interval=self.poke_interval,
            ignore_exceptions=_exception_paths(self._ignored),
            request_timeout=list(timeout) if isinstance(timeout, tuple) else timeout,
            deadline=deadline,
            retry_at=retry_at,
            xcom_jsonpath=self.xcom_jsonpath,
            do_xcom_push=self.do_xcom_push,
            secret_headers=list(self.secret_headers) or None,
            sealed=seal(secrets) if secrets else None,
            follows=follows,
        )
        trigger.validate()  # what the triggerer will rebuild: a mistake fails here, on the worker
        return trigger

    def _ended(self, status: str, message: str) -> Exception:
        """The exception that ends the task for an engine outcome, the same in every mode:
        an alarm, an unusable XCom or a mistake no retry can fix (``fatal``) fails at once, a
        give-up times out (neither uses the retries), and a request error is a plain failure,
        so the retries apply."""
        # (on Airflow 3.1 the compat layer types both exceptions as Any)
        if status in ("alarm", "payload_error", "fatal"):
            return AirflowFailException(f"{self.task_id}: {message}")  # type: ignore[no-any-return, unused-ignore]
        if status == "exhausted":
            return AirflowSensorTimeout(f"{self.task_id}: gave up: {message}")  # type: ignore[no-any-return, unused-ignore]
        return HttSleepError(f"{self.task_id}: {message}")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the outcome poke mode would have had."""
        status = event.get("status")
        if status == "success":
            if "payload_error" in event:
                raise self._ended("payload_error", event["payload_error"])
            return event.get("xcom")
        if status in ("alarm", "exhausted"):
            raise self._ended(status, event["message"])
        error_type, message = event.get("error_type"), event.get("message")
        fatal = event.get("fatal")
        # what poke mode raises: the request's own error, when it can be made again here
        error = None if fatal else _error_like(error_type, str(message), event.get("args"))
        if error is None:
            text = f"{error_type}: {message}" if error_type else str(message)
            error = self._ended("fatal" if fatal else "error", text)
        if self._never_fail and not isinstance(error, AirflowException):
            raise AirflowSkipException(_NEVER_FAIL) from error  # Airflow skips the others
        raise error

    def poke(self, context: Context) -> bool | PokeReturnValue:
        sleeper = self._sleeper
        assert sleeper is not None, "poke() runs inside execute()"
        # Earlier pokes of this try: rescheduled runs (reschedule mode) + this run's (poke mode).
        attempts_made = int(context.get("task_reschedule_count") or 0) + self._pokes
        poller = sleeper.poller(
            attempts_made=attempts_made,
            deadline=self._deadline,  # the sensor's timeout: one rule with the engine's max_wait
            log=self.log,
            noun="poke",
            poll_log=self._poll_log,
        )
        now = time.monotonic()
        poller.next_action(now)
        try:
            outcome: requests.Response | Exception = sleeper.send_once(
                poller.request_budget(now, sleeper.request_deadline)
            )
        except Exception as exc:
            outcome = exc
        poller.secrets = sleeper.secrets  # with those the first request found
        self._pokes += 1
        try:
            poller.receive(outcome, time.monotonic())
        except Alarm as exc:
            raise self._ended("alarm", str(exc)) from exc
        except GaveUp as exc:
            raise self._ended("exhausted", str(exc)) from exc
        action = poller.next_action(time.monotonic())
        if not isinstance(action, Done):
            # The engine polls with an interval of 0 here, so a wait is what the server asked.
            self._asked_wait = action.seconds if isinstance(action, Sleep) else 0.0
            return False
        if not self.do_xcom_push:
            return True
        return PokeReturnValue(is_done=True, xcom_value=self._xcom_value(action.response))

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        """Airflow's wait before the next poke (poke and reschedule modes), lengthened when a
        ``429``/``503`` asked for more time with ``Retry-After`` (capped, as in the engine),
        and cut to the sensor's ``timeout``: the last poke is at its end, as the engine's last
        look at its deadline (Airflow slept the whole interval, and timed out past it)."""
        interval = max(
            super()._get_next_poke_interval(started_at, run_duration, poke_count), self._asked_wait
        )
        if self._deadline is None:
            return interval
        return min(interval, max(0.0, self._deadline - time.monotonic()))

    def _xcom_value(self, response: requests.Response) -> Any:
        secrets = self._sleeper.secrets if self._sleeper is not None else ()
        try:
            return response_payload(response, self.xcom_jsonpath, secrets)
        except PayloadError as exc:
            raise self._ended("payload_error", str(exc)) from None
