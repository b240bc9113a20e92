"""The condition language: validate ``until``/``alarms`` once, then judge responses.

A condition is a dict whose keys must all hold (AND); a list of such dicts holds when any of them
does (OR). The keys:

==============  ==============================================================================
``status_code`` ``response.status_code == int(value)``
``text``        ``response.text == value``
``json``        ``response.json() == value``
``jsonpath``    a non-empty list of ``{"expression": ..., "value": ...}``; every entry must hold.
                One match: its value equals ``value``; several: the list of their values does;
                no match: not met.
``callback``    ``callback(response) == True``; a callable or a ``"package.module.function"``.
==============  ==============================================================================

A key that is present always counts, whatever its value (``json={}`` requires an empty object).
A ``json``/``jsonpath`` check on a body that is not JSON raises ``ValueError``, unless another
branch of the same list holds.
Within one dict the checks run cheapest first (status code, text, JSON, JSONPath, callback) and
stop at the first that fails, so ``{"status_code": 200, "json": ...}`` never decodes the body of
a 502 error page.

Nothing here does I/O: judging reads a ``requests.Response`` that a runner already has.
"""

from __future__ import annotations

import array
import codecs
import copy
import enum
import functools
import itertools
import json as jsonlib
import math
import operator
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import jsonpath_rw.jsonpath as _jsonpath_rw
from jsonpath_rw import parse as _jsonpath_parse
from jsonpath_rw.jsonpath import Child, Descendants, Fields, Index, JSONPath, Root, Union

from httsleep_airflow._dotted import display_name, dotted_path_of, import_dotted
from httsleep_airflow._secrets import scrub
from httsleep_airflow.exceptions import ConditionError, JSONPathTooCostly, JSONTooDeep

if TYPE_CHECKING:
    import requests

__all__ = ["CONDITION_KEYS", "ConditionSet", "Judgement", "Rules", "Verdict", "compile_conditions"]

#: The condition keys, in the order they are evaluated within one dict.
CONDITION_KEYS = ("status_code", "text", "json", "jsonpath", "callback")

_EXCERPT = 60


def excerpt(value: Any, limit: int = _EXCERPT, secrets: tuple[str, ...] = ()) -> str:
    """A short, single-line rendering of ``value`` for messages (JSON where possible), with
    ``secrets`` redacted before it is cut."""
    if isinstance(value, str | int | float | bool | dict | list) or value is None:
        try:
            text = jsonlib.dumps(value, ensure_ascii=False, default=shown)
        except (ValueError, RecursionError):  # circular, too deep, or an integer too long
            text = shown(value)
    else:
        text = shown(value)
    return scrub(text, secrets, limit)


def shown(value: Any) -> str:
    """``repr(value)`` for a message, or what it is when it has none: an integer longer than
    Python writes as text (``sys.get_int_max_str_digits``, 4,300 digits), a structure too deep
    or holding one."""
    try:
        return repr(value)
    except (ValueError, RecursionError):
        if isinstance(value, int):
            return f"<an integer of {value.bit_length()} bits>"
        return f"<a {type(value).__name__} that has no text>"


def exactly(value: Any) -> Any:
    """``value`` as compared to tell whether its ``excerpt`` changed: ``1``, ``1.0`` and
    ``True`` are equal in Python, not in an excerpt; a float by its text (``NaN`` too)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is float:
        return kind, repr(value)
    if kind is int or kind is bool:
        return kind, value
    try:
        return kind, jsonlib.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError):
        return kind, repr(value)


class _Subject:
    """One response being judged: decodes the JSON body at most once, and remembers each
    check's finding, so explaining a verdict never runs a callback or a JSONPath again."""

    __slots__ = ("_json", "_key", "_last_body", "found", "response", "secrets")

    _UNSET: Any = object()

    def __init__(
        self,
        response: requests.Response,
        secrets: tuple[str, ...] = (),
        last_body: LastBody | None = None,
        key: tuple[Any, ...] | None = None,
    ):
        self.response = response
        self.secrets = secrets  # redacted from every excerpt of this response
        self._json: Any = self._UNSET
        self._last_body = last_body
        self._key = key  # its body's ``LastBody.key``, when it may be taken for the last
        self.found: dict[int, Any] = {}  # id(check or JSONPath entry) -> its finding

    def excerpt(self, value: Any) -> str:
        return excerpt(value, secrets=self.secrets)

    def json(self) -> Any:
        if self._json is self._UNSET:
            last, key = self._last_body, self._key
            self._json = (
                decode_json(self.response)
                if last is None or key is None
                else last.decode(self.response, key)
            )
        return self._json


class LastBody:
    """The last small body one set of rules judged: its JSON data while it is judged, and,
    when the rules found it pending, what they found (``Judgement.pending``) with its status,
    the data no longer. A job API sends the same body poll after poll ("running"), and judging
    it again is most of a poll's own work. A body is taken as the last one only when it is
    equal byte for byte, with the same response type and encoding, under the same limits
    (``JSON_MAX_DEPTH``, ``JSONPATH_BUDGET``, jsonpath-rw's ``auto_id_field``), and only when
    the response decodes as requests does (``_plain``: so that is all its data depends on, and
    all a status, text, JSON or JSONPath check reads but the status); the data is only read
    (by conditions, never handed to callbacks or XCom). Errors are not kept."""

    __slots__ = ("_last",)

    #: Larger bodies are judged every time (a waiting trigger holds this one over its sleep).
    MAX_BYTES = 2048

    def __init__(self) -> None:
        # (key, data or _NO_DATA, (status, pending) or None), replaced whole: thread-safe
        self._last: tuple[Any, Any, tuple[int, Any] | None] | None = None

    @staticmethod
    def key(response: requests.Response) -> tuple[Any, ...] | None:
        """What a body is taken for the last one by; ``None``: it never is."""
        content = response.content
        if type(content) is not bytes or len(content) > LastBody.MAX_BYTES or not _plain(response):
            return None
        limits = sys.modules["httsleep_airflow._core"]  # what judging reads besides the body
        return (
            content,
            response.encoding,
            type(response),
            limits.JSON_MAX_DEPTH,
            limits.JSONPATH_BUDGET,
            _jsonpath_rw.auto_id_field,
        )

    def decode(self, response: requests.Response, key: tuple[Any, ...]) -> Any:
        last = self._last
        if last is not None and last[0] == key:
            if last[1] is not _NO_DATA:
                return last[1]
            if last[2] is not None:  # found pending: decoded again to word it, not kept
                return decode_json(response)
        data = decode_json(response)
        self._last = (key, data, None)
        return data

    def pending(self, key: tuple[Any, ...], status: int) -> Any:
        """What the rules found of the last body, when it was pending with this status."""
        last = self._last
        if last is None or last[2] is None or last[2][0] != status or last[0] != key:
            return None
        return last[2][1]

    def judged_pending(self, key: tuple[Any, ...], status: int, pending: Any) -> None:
        """The rules found this body pending: what they found is kept, its data no longer (a
        waiting trigger would hold it over every sleep; judging the same body again needs only
        the finding, and one with another status decodes it again)."""
        self._last = (key, _NO_DATA, (status, pending))


_NO_DATA: Any = object()


def _plain(response: requests.Response) -> bool:
    """Whether ``response`` decodes its body as ``requests.Response`` does: ``json``, ``text``,
    ``content`` and ``apparent_encoding`` (what ``text`` decodes by without an encoding) are
    that class's own, neither overridden by a subclass nor on itself."""
    kind = type(response)
    plain = _PLAIN_TYPES.get(kind)
    if plain is None:
        plain = False
        for cls in kind.__mro__:
            names = vars(cls)
            if any(name in names for name in _DECODING):
                plain = cls.__module__ == "requests.models" and cls.__name__ == "Response"
                plain = plain and all(name in names for name in _DECODING)
                break
        if len(_PLAIN_TYPES) < 256:
            _PLAIN_TYPES[kind] = plain
    return plain and "json" not in vars(response)


_PLAIN_TYPES: dict[type, bool] = {}
_DECODING = ("json", "text", "content", "apparent_encoding")


def decode_json(response: requests.Response) -> Any:
    """``response.json()``, never nested deeper than ``_core.JSON_MAX_DEPTH``.

    :raises JSONTooDeep: deeper (a ``ValueError``, never a ``RecursionError``).
    :raises ValueError: the body is not JSON.
    """
    content, limit = response.content, _json_max_depth()
    # cheap first: a body with fewer brackets than the limit cannot nest deeper than it
    deep = content.count(b"[") + content.count(b"{") > limit
    # The pre-check reads bytes as the decoder reads the text where each byte below 0x80 is
    # the ASCII character: not in UTF-16 or UTF-32 (a NUL among its first bytes, as requests
    # guesses it), nor in a charset whose characters may hold a backslash's byte (Shift_JIS,
    # GBK): then the data is walked once decoded.
    as_bytes = b"\x00" not in content[:4] and _ascii_bytes(response.encoding)
    if deep and as_bytes and _nests_deeper(content, limit):
        check_depth(_TOO_DEEP)  # never decoded: the decoder would recurse that deep
    try:
        try:
            data = response.json()
        except ValueError as exc:
            if _DIGITS_LIMIT not in str(exc):
                raise
            data = response.json(parse_int=_integer)  # only then: each integer a call
    except RecursionError:
        data = _TOO_DEEP
    if data is _TOO_DEEP or (deep and not as_bytes):
        check_depth(data)
    return data


_TOO_DEEP: Any = object()
#: What Python says of an integer with more digits than it converts.
_DIGITS_LIMIT = "integer string conversion"


class LongInteger(str):
    """A JSON integer with more digits than Python converts (``sys.get_int_max_str_digits``),
    as its text: valid JSON, read as such (an integer past 64 bits, as XCom judges it)."""

    __slots__ = ()


def _integer(text: str) -> int | LongInteger:
    try:
        return int(text)
    except ValueError:
        return LongInteger(text)


@functools.lru_cache(maxsize=64)
def _ascii_bytes(encoding: str | None) -> bool:
    """Whether every byte below 0x80 of a text in ``encoding`` is that ASCII character (UTF-8,
    ASCII, the ISO 8859 and Windows single-byte charsets): ``None`` is JSON's own guess."""
    if encoding is None:
        return True
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name in ("utf-8", "ascii", "latin-1") or name.startswith(("iso8859-", "cp125"))


#: Every byte but a quote and a bracket: what the depth pre-check drops first.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
#: An opening bracket as +1, a closing one as -1 (as signed bytes), a quote as 0.
_STEPS = bytes.maketrans(b'"[{]}', b"\x00\x01\x01\xff\xff")
#: A quote as 1, anything else as 0.
_QUOTES = bytes.maketrans(b'"[{]}', b"\x01\x00\x00\x00\x00")


def _nests_deeper(content: bytes, limit: int) -> bool:
    """Whether the JSON text ``content`` opens more than ``limit`` brackets at once, outside
    its strings, read without decoding it. Each step is a pass of the C library over the bytes
    (it holds a copy at most, and nothing per string or bracket): escape pairs dropped
    (``\\\\``, then a quote or bracket escaped: every quote left opens or closes a string),
    all but quotes and brackets dropped, then two quotes in a row (a string without brackets:
    the strings the other quotes make stay as they were), then the running depth summed,
    counting a bracket only where the quotes before it are even (outside a string)."""
    text = content.replace(b"\\\\", b"")  # then each backslash left escapes the byte after it
    for escaped in _ESCAPED:
        text = text.replace(escaped, b"")
    structure = text.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    steps: Iterable[int] = array.array("b", structure.translate(_STEPS))
    if b'"' in structure:  # strings with brackets in them
        quotes = itertools.accumulate(structure.translate(_QUOTES))
        outside = map(operator.xor, map(operator.and_, quotes, _ONES), _ONES)
        steps = map(operator.mul, steps, outside)
    return max(itertools.accumulate(steps), default=0) > limit


_ONES = itertools.repeat(1)
#: A quote or a bracket escaped (in a string; outside one, where JSON has none, too).
_ESCAPED = (b'\\"', b"\\[", b"\\]", b"\\{", b"\\}")


def _json_max_depth() -> int:
    return sys.modules["httsleep_airflow._core"].JSON_MAX_DEPTH  # type: ignore[no-any-return]


def check_depth(data: Any) -> None:
    """Raise ``JSONTooDeep`` when ``data`` nests lists and dicts deeper than the limit."""
    limit = _json_max_depth()
    if data is not _TOO_DEEP:
        stack: list[tuple[Any, int]] = [(data, 1)]
        while stack:
            value, depth = stack.pop()
            if isinstance(value, dict):
                children: Any = value.values()
            elif isinstance(value, list):
                children = value
            else:
                continue
            if depth > limit:
                break
            stack.extend((child, depth + 1) for child in children)
        else:
            return
    raise JSONTooDeep(
        f"the JSON body nests deeper than {limit} levels; it is not decoded", limit=limit
    )


# --- checks: one per condition key -------------------------------------------------------------


class _StatusCode(NamedTuple):
    expected: int

    def matches(self, subject: _Subject) -> bool:
        return subject.response.status_code == self.expected

    def explain(self, subject: _Subject) -> str:
        return f"status_code == {self.expected} (got {subject.response.status_code})"

    def observed(self, subject: _Subject) -> Any:
        return subject.response.status_code

    def to_data(self) -> Any:
        return self.expected


class _Text(NamedTuple):
    expected: str

    def matches(self, subject: _Subject) -> bool:
        return subject.response.text == self.expected

    def explain(self, subject: _Subject) -> str:
        got = subject.excerpt(subject.response.text)
        return f"text == {subject.excerpt(self.expected)} (got {got})"

    def observed(self, subject: _Subject) -> Any:
        return subject.response.text

    def to_data(self) -> Any:
        return self.expected


class _Json(NamedTuple):
    expected: Any

    def matches(self, subject: _Subject) -> bool:
        return json_equal(subject.json(), self.expected)

    def explain(self, subject: _Subject) -> str:
        return f"json == {subject.excerpt(self.expected)} (got {subject.excerpt(subject.json())})"

    def observed(self, subject: _Subject) -> Any:
        return exactly(subject.json())

    def to_data(self) -> Any:
        return self.expected


#: A path of plain steps (``a.b[0]``, ``$.status``): each a field name (``str``) or an index
#: (``int``). It has one match at most, found by the lookups jsonpath-rw makes, without the
#: objects it makes for each step (most conditions are such paths, judged on every poll).
_Steps = tuple[str | int, ...]


class _JsonPathEntry(NamedTuple):
    source: str
    expression: JSONPath
    expected: Any
    steps: _Steps | None  # the expression's plain steps, if it is one (``_shape``)

    def found(self, data: Any) -> tuple[bool, Any]:
        steps = self.steps
        if steps is not None and _jsonpath_rw.auto_id_field is None:
            return _walk(steps, data)
        return jsonpath_value(self.expression, data)


def _entry(source: str, expression: JSONPath, expected: Any) -> _JsonPathEntry:
    return _JsonPathEntry(source, expression, expected, _shape(expression).steps)


def jsonpath_value(expression: JSONPath, data: Any) -> tuple[bool, Any]:
    """``(found, value)``: one match gives its value, several the list of their values. A
    step that meets a value of another type (an index into an object, ``null`` or a number,
    where jsonpath-rw raises ``TypeError`` or ``KeyError``) finds nothing, as a field that is
    not there: ``{"result": null}`` is a job not done yet, not an error.

    :raises JSONPathTooCostly: the expression would cost more than ``_core.JSONPATH_BUDGET``
        steps on ``data`` (``..`` inside ``..`` multiplies); it is not run.
    """
    shape = _shape(expression)
    if shape.steps is not None and _jsonpath_rw.auto_id_field is None:
        return _walk(shape.steps, data)
    if shape.steps is None:  # a wildcard, slice, union, filter or ``..``: its cost is estimated
        _check_budget(expression, shape, data)
    try:
        matches = expression.find(data)
    except _TYPE_MISMATCH:
        return False, None
    if not matches:
        return False, None
    if len(matches) == 1:
        return True, matches[0].value
    return True, [match.value for match in matches]


def _walk(steps: _Steps, data: Any) -> tuple[bool, Any]:
    """What ``expression.find(data)`` finds for a plain path, by jsonpath-rw's own rules: a
    field of anything but a mapping that has it is no match; an index past the end is none;
    an index into a mapping, ``null`` or a number, where it raises, is none too
    (``jsonpath_value``)."""
    value = data
    for step in steps:
        try:
            if type(step) is int and not len(value) > step:
                return False, None
            value = value[step]
        except _TYPE_MISMATCH:
            return False, None
    return True, value


#: What jsonpath-rw raises when a step meets a value of another type.
_TYPE_MISMATCH = (TypeError, KeyError, AttributeError, IndexError)


class _Shape(NamedTuple):
    """What an expression's cost depends on (``_check_budget``), and how it is run."""

    descendants: int  #: ``..`` operators: each walks the whole document
    unions: int  #: ``|`` operators: each may double what the steps after it run on
    steps: _Steps | None  #: its steps when it is a plain path (see ``_Steps``)


_SHAPES: dict[int, tuple[JSONPath, _Shape]] = {}


def _shape(expression: JSONPath) -> _Shape:
    """The shape of ``expression``, worked out once per expression."""
    known = _SHAPES.get(id(expression))
    if known is not None and known[0] is expression:
        return known[1]
    count, unions, stack = 0, 0, [expression]
    while stack:
        node = stack.pop()
        count += isinstance(node, Descendants)
        unions += isinstance(node, Union)
        stack.extend(
            child
            for name in ("left", "right", "expression")
            if isinstance(child := getattr(node, name, None), JSONPath)
        )
    shape = _Shape(count, unions, _plain_steps(expression))
    if len(_SHAPES) >= _PARSED_MAX:
        _SHAPES.clear()
    _SHAPES[id(expression)] = (expression, shape)
    return shape


def _plain_steps(expression: JSONPath, first: bool = True) -> _Steps | None:
    """The steps of a path made of one-name fields and indexes, a leading ``$`` allowed;
    ``None`` for anything else (wildcards, slices, ``..``, filters: jsonpath-rw runs those)."""
    node_type = type(expression)
    if node_type is Child:
        left = _plain_steps(expression.left, first)
        right = _plain_steps(expression.right, False)
        return None if left is None or right is None else left + right
    if node_type is Root:
        return () if first else None
    if node_type is Fields and len(expression.fields) == 1:
        field = expression.fields[0]
        return (field,) if isinstance(field, str) and field != "*" else None
    if node_type is Index and type(expression.index) is int:
        return (expression.index,)
    return None


def _check_budget(expression: JSONPath, shape: _Shape, data: Any) -> None:
    """Raise ``JSONPathTooCostly`` when ``expression``, no plain path, would cost too much on
    ``data``: a wildcard, a slice, a filter or a ``..`` may visit every value (each ``..``
    after the first multiplies that by up to the document's depth), and each union (``|``)
    may double what the steps after it are run on."""
    from httsleep_airflow._core import JSONPATH_BUDGET  # _core imports this module

    descendants, factor = shape.descendants, 2 ** min(shape.unions, 64)
    values, deepest, stack = 0, 1, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        values += 1
        deepest = max(deepest, depth)
        if values * deepest ** max(0, descendants - 1) * factor > JSONPATH_BUDGET:
            raise JSONPathTooCostly(
                f"JSONPath {str(expression)!r} would take more than {JSONPATH_BUDGET} steps on "
                f"this body ({values}+ values nested {deepest}+ deep, {descendants} '..' "
                f"operators, {factor.bit_length() - 1} unions); it was not run",
                expression=str(expression),
            )
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)


class _JsonPath(NamedTuple):
    entries: tuple[_JsonPathEntry, ...]

    def matches(self, subject: _Subject) -> bool:
        for entry in self.entries:
            found, value = self._found(subject, entry)
            if not found or not json_equal(value, entry.expected):
                return False
        return True

    @staticmethod
    def _found(subject: _Subject, entry: _JsonPathEntry) -> tuple[bool, Any]:
        known: tuple[bool, Any] | None = subject.found.get(id(entry))
        if known is None:
            known = subject.found[id(entry)] = entry.found(subject.json())
        return known

    def explain(self, subject: _Subject) -> str:
        for entry in self.entries:
            found, value = self._found(subject, entry)
            if not found:
                return f"{entry.source} == {subject.excerpt(entry.expected)} (no match)"
            if not json_equal(value, entry.expected):
                return (
                    f"{entry.source} == {subject.excerpt(entry.expected)} "
                    f"(got {subject.excerpt(value)})"
                )
        return "jsonpath met"

    def observed(self, subject: _Subject) -> Any:
        for index, entry in enumerate(self.entries):
            found, value = self._found(subject, entry)
            if not found or not json_equal(value, entry.expected):
                return index, found, exactly(value)
        return None

    def to_data(self) -> Any:
        for entry in self.entries:  # a compiled expression travels as its text: it must parse back
            if parse_jsonpath(entry.source) != entry.expression:
                raise ConditionError(
                    f"JSONPath {entry.expression!r} does not survive the trip through its text "
                    f"{entry.source!r}; pass the expression as a string"
                )
        return [{"expression": e.source, "value": e.expected} for e in self.entries]


class _Callback(NamedTuple):
    function: Callable[[requests.Response], Any]
    name: str
    path: str | None  # how to import it again, when it can be

    def matches(self, subject: _Subject) -> bool:
        known: bool | None = subject.found.get(id(self))
        if known is None:  # called once per response, however often its verdict is read
            result = self.function(subject.response) == True  # noqa: E712 (the documented rule)
            known = subject.found[id(self)] = bool(result)
        return known

    def explain(self, subject: _Subject) -> str:
        return f"callback {self.name}(response) == True"

    def observed(self, subject: _Subject) -> Any:
        return None

    def to_data(self) -> Any:
        if self.path is None:
            raise ConditionError(
                f"callback {self.name} cannot be passed on as a dotted path: use a function "
                "defined at module level (not a lambda, closure or nested function)"
            )
        return self.path


_Check = _StatusCode | _Text | _Json | _JsonPath | _Callback


# --- compiling ---------------------------------------------------------------------------------


_PARSED: dict[str, JSONPath] = {}
_PARSED_MAX = 4096


def parse_jsonpath(expression: str) -> JSONPath:
    """Parse a JSONPath once per process (jsonpath-rw rebuilds its parser on every parse).

    :raises ValueError: it has more than ``JSONPATH_MAX_STEPS`` steps (it is read by recursion,
        a frame or more a step: thousands ended in ``RecursionError`` when a body was read).
    """
    compiled = _PARSED.get(expression)
    if compiled is None:
        compiled = _jsonpath_parse(expression)
        if _steps(compiled) > JSONPATH_MAX_STEPS:
            raise ValueError(f"it has more than {JSONPATH_MAX_STEPS} steps")
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[expression] = compiled
    return compiled


def _compile_status_code(value: Any, where: str) -> _StatusCode:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or (isinstance(value, str) and not (value.isascii() and value.isdigit()))
    ):  # int() reads "2_00" and " 200 " as 200 too
        raise ConditionError(
            f"{where}: 'status_code' must be an int like 200, not {value!r}"
        ) from None
    try:
        code = int(value)
    except ValueError:
        raise ConditionError(
            f"{where}: 'status_code' must be an int like 200, not {value!r}"
        ) from None
    if not 100 <= code <= 599:
        raise ConditionError(f"{where}: 'status_code' {shown(code)} is not an HTTP status code")
    return _StatusCode(code)


def _compile_text(value: Any, where: str) -> _Text:
    if not isinstance(value, str):
        raise ConditionError(f"{where}: 'text' must be a string, not {type(value).__name__}")
    return _Text(value)


def _compile_json(value: Any, where: str) -> _Json:
    return _Json(expected_json(value, f"{where}: 'json'"))


def expected_json(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as a decoded JSON body is compared with it: a tuple as a list (JSON has no
    tuple; a tuple never equals the list decoded); refused when no body could ever equal it
    (a set or bytes, NaN, a key that is not a string, a nesting past ``JSON_MAX_DEPTH``). An
    object of another type is left as given: its own ``__eq__`` decides (``mock.ANY``)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if depth > _json_max_depth():
        raise ConditionError(
            f"{where} nests deeper than {_json_max_depth()}: no body decoded can equal it"
        )
    if kind is float and math.isnan(value):
        raise ConditionError(f"{where} holds NaN, which equals nothing (not even a NaN sent)")
    if isinstance(value, set | frozenset | bytes | bytearray):
        raise ConditionError(
            f"{where} holds a {kind.__name__}, which equals no JSON value: use a list or a string"
        )
    if isinstance(value, dict):
        if not all(type(key) is str for key in value):
            wrong = next(key for key in value if type(key) is not str)
            raise ConditionError(
                f"{where} has the key {wrong!r}: JSON object keys are strings, so no body can "
                f"equal it (write {str(wrong)!r})"
            )
        return {key: expected_json(item, where, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [expected_json(item, where, depth + 1) for item in value]
    return value


def json_equal(found: Any, expected: Any) -> bool:
    """Whether a decoded JSON value equals ``expected`` (``expected_json``): as Python compares
    them, but a boolean equals only a boolean (``true`` is no ``1``, ``1`` no ``true``), and
    a number too long for an int (``LongInteger``) no string."""
    if found != expected:  # most polls: one comparison
        return False
    stack = [(found, expected)]
    while stack:
        a, b = stack.pop()
        numbers = isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS)
        if (numbers and isinstance(a, bool) is not isinstance(b, bool)) or (
            # a number past 4,300 digits is decoded as text of its own kind
            isinstance(a, LongInteger) is not isinstance(b, LongInteger)
        ):
            return False
        if type(a) is dict and type(b) is dict:
            stack.extend((a[key], b[key]) for key in a)
        elif type(a) is list and type(b) is list:
            stack.extend(zip(a, b, strict=True))
    return True


_NUMBERS = (bool, int, float)


def _compile_jsonpath(value: Any, where: str) -> _JsonPath:
    if isinstance(value, dict):
        value = [value]  # a lone entry is accepted as a list of one
    if not isinstance(value, list | tuple) or not value:
        raise ConditionError(
            f"{where}: 'jsonpath' must be a non-empty list of "
            "{'expression': ..., 'value': ...} dicts"
        )
    entries = []
    for index, item in enumerate(value):
        if type(item) is dict and len(item) == 2 and "expression" in item and "value" in item:
            expression = item["expression"]
            if type(expression) is str and expression in _PARSED:  # the common, fast case
                entries.append(
                    _entry(
                        expression,
                        _PARSED[expression],
                        expected_json(item["value"], f"{where}: jsonpath[{index}]: 'value'"),
                    )
                )
                continue
        entries.append(_compile_jsonpath_entry(item, f"{where}: jsonpath[{index}]"))
    return _JsonPath(tuple(entries))


def _compile_jsonpath_entry(item: Any, at: str) -> _JsonPathEntry:
    if not isinstance(item, dict) or set(item) != {"expression", "value"}:
        got = sorted(item) if isinstance(item, dict) else type(item).__name__
        raise ConditionError(
            f"{at} must be a dict with exactly the keys 'expression' and 'value' (got {got})"
        )
    expression = item["expression"]
    expected = expected_json(item["value"], f"{at}: 'value'")
    if isinstance(expression, JSONPath):
        return _entry(str(expression), expression, expected)
    if not isinstance(expression, str) or not expression.strip():
        raise ConditionError(f"{at}: 'expression' must be a JSONPath string, not {expression!r}")
    return _entry(expression, checked_jsonpath(expression, at), expected)


def checked_jsonpath(expression: str, at: str) -> JSONPath:
    """``expression`` parsed, or a ``ConditionError`` that says what is wrong with it in words
    (jsonpath-rw's own errors name its parser's internals, or nothing at all)."""
    try:
        return parse_jsonpath(expression)
    except Exception as exc:  # jsonpath-rw raises bare Exception, or AttributeError at the end
        if "?" in expression or "@" in expression:
            why = (
                "filter expressions ([?(...)], @) are not supported by jsonpath-rw: select the "
                "value with a path and compare it with 'value', or use a callback"
            )
        elif isinstance(exc, AttributeError):
            why = "it ends too early (an unclosed '[' or a trailing '.')"
        else:
            why = str(exc).strip() or type(exc).__name__
        quoted = repr(expression) if len(expression) <= 200 else f"{expression[:200]!r}…"
        raise ConditionError(f"{at}: JSONPath {quoted} does not parse: {why}") from None


#: The most steps (nodes of its parsed tree, nested) a JSONPath may have.
JSONPATH_MAX_STEPS = 64


def _steps(path: Any) -> int:
    """How deeply ``path`` (jsonpath-rw's tree) nests: its steps, each side of a union too."""
    deepest, stack = 0, [(path, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [
            (side, depth + 1)
            for side in (getattr(node, "left", None), getattr(node, "right", None))
            if side is not None
        ]
    return deepest


def _compile_callback(value: Any, where: str) -> _Callback:
    if isinstance(value, str):
        try:
            function = import_dotted(value)
        except ImportError as exc:
            raise ConditionError(
                f"{where}: 'callback' {value!r} cannot be imported: {exc}"
            ) from None
        if not callable(function):
            raise ConditionError(f"{where}: 'callback' {value!r} is not callable")
        return _Callback(function, value, value)
    if not callable(value):
        raise ConditionError(
            f"{where}: 'callback' must be a callable or a 'package.module.function' string, "
            f"not {value!r}"
        )
    return _Callback(value, display_name(value), dotted_path_of(value))


_COMPILERS: dict[str, Callable[[Any, str], _Check]] = {
    "status_code": _compile_status_code,
    "text": _compile_text,
    "json": _compile_json,
    "jsonpath": _compile_jsonpath,
    "callback": _compile_callback,
}


class Clause(NamedTuple):
    """One condition dict: all of its checks must hold."""

    source: dict[str, Any]  # the caller's own dict, never modified
    checks: tuple[_Check, ...]

    def matches(self, subject: _Subject) -> bool:
        return all(check.matches(subject) for check in self.checks)

    def failing(self, subject: _Subject) -> int | None:
        """The index of the first check that does not hold, or ``None``."""
        for index, check in enumerate(self.checks):
            if not check.matches(subject):
                return index
        return None

    def explain(self, subject: _Subject) -> str:
        index = self.failing(subject)
        return "met" if index is None else self.checks[index].explain(subject)

    def observed(self, subject: _Subject) -> Any:
        """What ``explain`` tells, before it is put in words: the first check that fails and
        what it found (equal for two responses only when their explanations are equal)."""
        index = self.failing(subject)
        return None if index is None else (index, self.checks[index].observed(subject))

    def miss(self, subject: _Subject) -> Any:
        """``observed`` while judging: it raises only what matching raises; a finding that
        cannot be told (``observed`` raising) is ``UNTOLD``."""
        index = self.failing(subject)
        if index is None:
            return None
        try:
            return index, self.checks[index].observed(subject)
        except Exception:
            return UNTOLD

    def to_data(self) -> dict[str, Any]:
        """The checks as plain data, in a copy of its own: the checks may be shared by other
        waits (``_shared_checks``), and the caller may change what it gets."""
        keys = [key for key in CONDITION_KEYS if key in self.source]
        data = {key: check.to_data() for key, check in zip(keys, self.checks, strict=True)}
        return copy.deepcopy(data)


#: A finding ``Clause.miss`` could not tell.
UNTOLD: Any = object()


class ConditionSet(NamedTuple):
    """A list of clauses: the set holds when any clause does."""

    name: str  # "until" or "alarms"
    clauses: tuple[Clause, ...]

    def first_match(self, subject: _Subject, misses: list[Any] | None = None) -> Clause | None:
        """The first clause that holds. A clause that raises (say, ``json`` on an HTML error
        page) does not hide a later one that holds; when none holds, the first error is raised.

        :param misses: when given, each clause that does not hold adds what it found to it
            (``Clause.miss``): with no clause holding, the set's ``observed``.
        """
        error: Exception | None = None
        for clause in self.clauses:
            try:
                if misses is None:
                    if clause.matches(subject):
                        return clause
                else:
                    miss = clause.miss(subject)
                    if miss is None:
                        return clause
                    misses.append(miss)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error
        return None

    def explain(self, subject: _Subject) -> str:
        return " | ".join(clause.explain(subject) for clause in self.clauses)

    def observed(self, subject: _Subject) -> tuple[Any, ...]:
        return tuple(clause.observed(subject) for clause in self.clauses)

    def to_data(self) -> list[dict[str, Any]]:
        return [clause.to_data() for clause in self.clauses]

    def to_specs(self) -> list[dict[str, Any]]:
        """The caller's own dicts, to compile again (a rules change keeps the other set)."""
        return [clause.source for clause in self.clauses]


def _compile_clause(spec: Any, where: str) -> Clause:
    if not isinstance(spec, dict):
        raise ConditionError(f"{where} must be a dict of conditions, not {type(spec).__name__}")
    if not spec:
        raise ConditionError(
            f"{where} is an empty dict; give at least one of {', '.join(CONDITION_KEYS)}"
        )
    if not _COMPILERS.keys() >= spec.keys():
        unknown = sorted(str(key) for key in spec if key not in _COMPILERS)
        raise ConditionError(
            f"{where}: unknown condition key {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(CONDITION_KEYS)}"
        )
    text = _plain_text(spec)
    checks = _compile_checks(spec, where) if text is None else _shared_checks(text, where)
    return Clause(spec, checks)


def _compile_checks(spec: dict[str, Any], where: str) -> tuple[_Check, ...]:
    return tuple(_COMPILERS[key](spec[key], where) for key in CONDITION_KEYS if key in spec)


@functools.lru_cache(maxsize=256)
def _shared_checks(text: str, where: str) -> tuple[_Check, ...]:
    """The checks of a condition dict given as plain JSON data, compiled once for every wait
    that gives it (the waits of one DAG, a mapped task's): made from a copy of it (the checks
    are immutable; the ``Clause`` keeps the caller's own dict), so that a thousand waiting
    triggers hold one compiled JSONPath, not a thousand, and start without compiling it."""
    return _compile_checks(jsonlib.loads(text), where)


def _plain_text(spec: dict[str, Any]) -> str | None:
    """``spec`` as JSON text, when the text gives it back exactly and it is small
    (``_is_small_plain``); ``None`` otherwise, and for a callback (its import is not shared)."""
    if "callback" in spec or not _is_small_plain(spec):
        return None
    try:
        return jsonlib.dumps(spec, allow_nan=False)
    except ValueError:  # NaN or an infinity; an int too long to write
        return None


#: What a shared condition dict may hold at most: the cache keeps 256 of them for good.
_SHARED_MAX_NODES = 256
_SHARED_MAX_DEPTH = 16


def _is_small_plain(spec: dict[str, Any]) -> bool:
    """Whether ``spec`` is JSON's own data, of its exact types (dicts with string keys, lists,
    strings without surrogates, ints, floats, booleans, ``None``; no subclass), which JSON
    text gives back as it was, and small: at most ``_SHARED_MAX_NODES`` values, nested at
    most ``_SHARED_MAX_DEPTH`` deep (walked without recursion: a spec may nest deeper than
    the stack)."""
    stack: list[tuple[Any, int]] = [(spec, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > _SHARED_MAX_NODES or depth > _SHARED_MAX_DEPTH:
            return False
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str or not _plain_string(key):
                    return False
                stack.append((item, depth + 1))
        elif kind is list:
            stack.extend((item, depth + 1) for item in value)
        elif kind is str:
            if not _plain_string(value):
                return False
        elif kind not in _PLAIN_SCALARS:
            return False
    return True


def _plain_string(text: str) -> bool:
    """No surrogate: JSON text writes a pair of them and the character they stand for alike,
    and reads both back as the character."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_PLAIN_SCALARS = (int, float, bool, type(None))


def is_empty(spec: Any) -> bool:
    """``None``, ``{}``, ``[]``, or a list of nothing but empty dicts: no condition at all."""
    if spec is None:
        return True
    if isinstance(spec, dict | list | tuple) and not spec:
        return True
    return isinstance(spec, list | tuple) and all(isinstance(i, dict) and not i for i in spec)


def compile_conditions(spec: Any, name: str) -> ConditionSet:
    """Validate and compile ``until`` or ``alarms`` (``name`` says which, for messages).

    Empty dicts inside a list are skipped, as the classic library did; a spec with no condition
    at all is an error (for ``alarms``, ``Rules`` takes it as "no alarms" first).

    :raises ConditionError: the spec is malformed; the message names the key at fault.
    """
    if isinstance(spec, dict):
        return ConditionSet(name, (_compile_clause(spec, name),))
    if isinstance(spec, list | tuple):
        kept = [
            (i, item) for i, item in enumerate(spec) if not (isinstance(item, dict) and not item)
        ]
        if not kept:
            raise ConditionError(f"{name} is empty; give at least one condition dict")
        clauses = tuple(_compile_clause(item, f"{name}[{i}]") for i, item in kept)
        return ConditionSet(name, clauses)
    raise ConditionError(
        f"{name} must be a condition dict or a list of them, not {type(spec).__name__}"
    )


def meets(response: requests.Response, condition: dict[str, Any]) -> bool:
    """Whether ``response`` meets one condition dict (an empty one always holds)."""
    if isinstance(condition, dict) and not condition:
        return True
    return compile_conditions(condition, "condition").clauses[0].matches(_Subject(response))


def normalized(conditions: ConditionSet | None) -> list[dict[str, Any]]:
    """The clauses as the caller gave them, with ``status_code`` read back as an int: what
    the classic ``until``/``alarms`` attributes showed."""
    if conditions is None:
        return []
    found = []
    for clause in conditions.clauses:
        spec = dict(clause.source)
        if "status_code" in spec:
            spec["status_code"] = int(spec["status_code"])
        found.append(spec)
    return found


# --- judging -----------------------------------------------------------------------------------


class Verdict(enum.Enum):
    MET = "met"
    ALARM = "alarm"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    clause: Clause | None = None  # the alarm or until clause that matched
    subject: _Subject | None = None  # what judging found out: explaining reuses it
    pending: tuple[Any, ...] | None = None  # PENDING: until's ``observed`` (``pending_key``)


#: Rules with more checks than this may take long to judge whatever the body (``may_take_long``).
MANY_CHECKS = 256


class Rules:
    """``until`` and ``alarms`` together: alarms are checked first, on every response."""

    __slots__ = ("_last_body", "alarms", "has_callback", "may_take_long", "until")

    def __init__(self, until: Any, alarms: Any = None):
        if until is None:
            raise ConditionError("until is required: give the condition(s) that end the wait")
        if is_empty(until):
            raise ConditionError(
                f"until is empty; give at least one condition dict with one of "
                f"{', '.join(CONDITION_KEYS)}"
            )
        self.until = compile_conditions(until, "until")
        # No alarms, an empty dict or list (or only empty dicts): no alarms, as in the classic.
        self.alarms = None if is_empty(alarms) else compile_conditions(alarms, "alarms")
        self._last_body = LastBody()
        #: Whether judging may run user code (of unknown cost, reading more than the body).
        self.has_callback = bool(self.callbacks())
        #: Whether judging one body may take long, whatever its size: user code, or a JSONPath
        #: that is no plain path (a wildcard, union, filter, ``..``: it may walk the whole
        #: document or fan out; the aiohttp runner judges it in a thread).
        entries = self._jsonpath_entries()
        self.may_take_long = (
            self.has_callback
            or self._checks() + len(entries) > MANY_CHECKS
            or any(_shape(entry.expression).steps is None for entry in entries)
        )

    def _checks(self) -> int:
        sets = (self.until,) if self.alarms is None else (self.until, self.alarms)
        return sum(len(clause.checks) for condition_set in sets for clause in condition_set.clauses)

    def _jsonpath_entries(self) -> list[_JsonPathEntry]:
        sets = (self.until,) if self.alarms is None else (self.until, self.alarms)
        return [
            entry
            for condition_set in sets
            for clause in condition_set.clauses
            for check in clause.checks
            if isinstance(check, _JsonPath)
            for entry in check.entries
        ]

    def callbacks(self) -> list[tuple[Callable[..., Any], str]]:
        """Every callback with the name messages give it (its dotted path, when it has one)."""
        sets = (self.until,) if self.alarms is None else (self.until, self.alarms)
        return [
            (check.function, check.name)
            for condition_set in sets
            for clause in condition_set.clauses
            for check in clause.checks
            if isinstance(check, _Callback)
        ]

    def to_data(self) -> dict[str, Any]:
        """``{"until": ..., "alarms": ...}`` as plain JSON-safe data (callbacks as dotted paths,
        compiled JSONPaths as their text), to rebuild equal rules in another process.

        :raises ConditionError: a callback has no importable dotted path (a lambda, a closure).
        """
        return {
            "until": self.until.to_data(),
            "alarms": None if self.alarms is None else self.alarms.to_data(),
        }

    def judge(self, response: requests.Response) -> Judgement:
        """Decide one response: alarms first, then ``until``, each judged on its own.

        1. an alarm that holds: ``ALARM``;
        2. else ``until`` holds: ``MET`` (even when an alarm could not be evaluated: a
           ``jsonpath`` alarm on an HTML page does not hide the page's 200 that ``until`` wants);
        3. else the first error raised, alarms' before ``until``'s (decoding, a callback,
           ``JSONTooDeep``, ``JSONPathTooCostly``), propagates to the caller;
        4. else ``PENDING``.
        """
        last_body = self._last_body
        key = last_body.key(response)
        kept = None if self.has_callback else key  # what a pending finding is kept by
        if kept is not None:
            pending = last_body.pending(kept, response.status_code)
            if pending is not None:  # the body judged last, pending: so is this one
                return Judgement(
                    Verdict.PENDING, None, _Subject(response, (), last_body, key), pending
                )
        subject = _Subject(response, (), last_body, key)
        alarm_error: Exception | None = None
        if self.alarms is not None:
            try:
                alarm = self.alarms.first_match(subject)
            except Exception as exc:
                alarm_error = exc
            else:
                if alarm is not None:
                    return Judgement(Verdict.ALARM, alarm, subject)
        misses: list[Any] = []  # what each until clause found, worded only when shown
        try:
            met = self.until.first_match(subject, misses)
        except Exception:
            if alarm_error is not None:
                raise alarm_error from None
            raise
        if met is not None:
            return Judgement(Verdict.MET, met, subject)
        if alarm_error is not None:
            raise alarm_error
        if any(miss is UNTOLD for miss in misses):  # pending_key works it out again
            return Judgement(Verdict.PENDING, None, subject)
        pending = tuple(misses)
        if kept is not None:
            last_body.judged_pending(kept, response.status_code, pending)
        return Judgement(Verdict.PENDING, None, subject, pending)

    def pending_key(self, judgement: Judgement) -> Any:
        """What ``explain_pending`` would say of a judged response, unworded: two responses
        with equal keys get the same reason (a poller compares them on every poll, and words
        the reason only when it is shown)."""
        if judgement.pending is not None:
            return judgement.pending
        assert judgement.subject is not None
        return self.until.observed(judgement.subject)

    def explain_pending(
        self, response: requests.Response | Judgement, secrets: tuple[str, ...] = ()
    ) -> str:
        """Why a response does not meet ``until``: one reason per OR branch, with ``secrets``
        redacted from every excerpt of the response. Given the ``Judgement`` of that response,
        what judging found is reused: no decoding, JSONPath or callback runs again."""
        if isinstance(response, Judgement) and response.subject is not None:
            subject = response.subject
            subject.secrets = secrets
        else:
            assert not isinstance(response, Judgement)
            subject = _Subject(response, secrets)
        return self.until.explain(subject)
