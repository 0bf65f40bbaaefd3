"""Which Triggers deliver an event: Knative's Trigger filter semantics, offline.

A broker's filter decides per Trigger (knative.dev/eventing pkg/broker/filter):

* ``spec.filters`` (the subscriptions-API dialect) wins when it is non-empty: its
  expressions are ANDed; each has exactly one of ``exact``, ``prefix``, ``suffix`` (maps of
  attribute to string, every pair must hold), ``all``, ``any`` (lists of expressions),
  ``not`` (one expression) or ``cesql`` (a CloudEvents SQL expression);
* otherwise ``spec.filter.attributes``: every attribute must equal its value, and an empty
  value means "present and not empty";
* no filter at all delivers every event.

Each filter answers PASS, FAIL or NONE (it did not decide, e.g. an empty ``all``); only
FAIL stops delivery. Attribute lookup follows Knative's: the CloudEvents context attributes
always exist (an unset one reads as ``""``; ``time`` as Go's zero time), extensions only
when the event carries them.

CESQL is supported for the part a Trigger filter needs: comparisons (``= != <> < <= > >=``),
``AND``/``OR``/``XOR``/``NOT``, ``LIKE``, ``IN``, ``EXISTS``, string, integer and boolean
literals and parentheses. Arithmetic and functions are refused with :class:`FilterError`
naming the construct, never guessed. A filter the API server would refuse (two dialects in
one expression, an attribute name that is not lowercase alphanumeric) is refused too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Knative's validAttributeName (pkg/apis/eventing/v1/trigger_validation.go).
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")
_CONTEXT = ("specversion", "type", "source", "subject", "id", "time", "dataschema",
            "datacontenttype")  # fmt: skip
#: Go's zero time.Time as MarshalText writes it: what ``time`` reads as when unset.
ZERO_TIME = "0001-01-01T00:00:00Z"
DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")


class FilterError(ValueError):
    """A filter Knative would refuse, or a CESQL construct this module does not evaluate."""


class Result(enum.Enum):
    """A filter's answer; only FAIL keeps an event from the subscriber."""

    PASS = "pass"  # noqa: S105 - a filter result, not a password
    FAIL = "fail"
    NONE = "none"


def lookup(event: Mapping[str, Any], name: str) -> str | None:
    """Attribute ``name`` of ``event`` (a flat attribute map) as Knative reads it."""
    if name == "schemaurl":
        name = "dataschema"
    if name == "time":
        value = event.get("time")
        return ZERO_TIME if value in (None, "") else str(value)
    if name == "datamediatype":
        content_type = str(event.get("datacontenttype") or "")
        return content_type.partition(";")[0].strip().lower()
    if name in _CONTEXT or name == "datacontentencoding":
        value = event.get(name)
        return "" if value is None else str(value)
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_names(names: Mapping[str, Any], where: str) -> None:
    for name in names:
        if not isinstance(name, str) or not ATTRIBUTE_NAME.fullmatch(name):
            raise FilterError(
                f"{where}: attribute name {name!r} must start with a letter and contain only "
                "lowercase letters and digits"
            )


def attributes_filter(attributes: Mapping[str, Any] | None, event: Mapping[str, Any]) -> Result:
    """``spec.filter.attributes``: exact values; ``""`` = any non-empty value."""
    if attributes is None:
        return Result.NONE
    _check_names(attributes, "filter.attributes")
    for name, given in attributes.items():
        value = lookup(event, name)
        wanted = "" if given is None else str(given)
        if value is None or (wanted == "" and value == ""):
            return Result.FAIL
        if wanted not in ("", value):
            return Result.FAIL
    return Result.PASS


def _pairs(filter_: Mapping[str, Any], dialect: str) -> Mapping[str, str]:
    pairs = filter_[dialect]
    if not isinstance(pairs, Mapping):
        raise FilterError(f"filters.{dialect} must be a map of attribute to value")
    _check_names(pairs, f"filters.{dialect}")
    for name, value in pairs.items():
        if not isinstance(value, str) or value == "":
            raise FilterError(f"filters.{dialect}.{name}: the value must be a non-empty string")
    return pairs


def _dialect(filter_: Mapping[str, Any]) -> str | None:
    if not isinstance(filter_, Mapping):
        raise FilterError(f"a filters entry must be a map, not {filter_!r}")
    unknown = sorted(set(filter_) - set(DIALECTS))
    if unknown:
        raise FilterError(f"unknown filter dialect(s) {', '.join(unknown)}; known: {DIALECTS}")
    present = [d for d in DIALECTS if filter_.get(d) not in (None, "", [], {})]
    if len(present) > 1:
        raise FilterError(
            f"multiple dialects found ({', '.join(present)}), filters can have only one dialect set"
        )
    return present[0] if present else None


def dialect_filter(filter_: Mapping[str, Any], event: Mapping[str, Any]) -> Result:
    """One ``filters`` expression (the subscriptions-API dialect)."""
    dialect = _dialect(filter_)
    if dialect is None:
        return Result.NONE  # Knative skips an expression that sets nothing
    if dialect in ("exact", "prefix", "suffix"):
        for name, wanted in _pairs(filter_, dialect).items():
            value = lookup(event, name)
            if value is None:
                return Result.FAIL
            matched = (
                value == wanted
                if dialect == "exact"
                else value.startswith(wanted)
                if dialect == "prefix"
                else value.endswith(wanted)
            )
            if not matched:
                return Result.FAIL
        return Result.PASS
    if dialect in ("all", "any"):
        children = filter_[dialect]
        if not isinstance(children, Sequence) or isinstance(children, str):
            raise FilterError(f"filters.{dialect} must be a list of filter expressions")
        return (all_of if dialect == "all" else any_of)(children, event)
    if dialect == "not":
        inner = dialect_filter(filter_["not"], event)
        return {Result.PASS: Result.FAIL, Result.FAIL: Result.PASS}.get(inner, Result.NONE)
    return cesql_filter(str(filter_["cesql"]), event)


def all_of(filters: Sequence[Mapping[str, Any]], event: Mapping[str, Any]) -> Result:
    """ALL: the first FAIL decides; otherwise the last expression's answer (NONE if empty)."""
    result = Result.NONE
    for filter_ in filters:
        result = dialect_filter(filter_, event)
        if result is Result.FAIL:
            return Result.FAIL
    return result


def any_of(filters: Sequence[Mapping[str, Any]], event: Mapping[str, Any]) -> Result:
    """ANY: the first PASS decides; otherwise the last expression's answer (NONE if empty)."""
    result = Result.NONE
    for filter_ in filters:
        result = dialect_filter(filter_, event)
        if result is Result.PASS:
            return Result.PASS
    return result


def trigger_result(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> Result:
    """The broker's answer for a Trigger (the whole resource or its ``spec``)."""
    spec = trigger.get("spec", trigger) if "spec" in trigger else trigger
    spec = spec if isinstance(spec, Mapping) else {}
    filters = spec.get("filters")
    if filters:
        if not isinstance(filters, Sequence) or isinstance(filters, str):
            raise FilterError("spec.filters must be a list of filter expressions")
        return all_of(filters, event)
    filter_ = spec.get("filter")
    if isinstance(filter_, Mapping):
        return attributes_filter(filter_.get("attributes"), event)
    return Result.NONE


def delivers(trigger: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether the broker hands ``event`` to the Trigger's subscriber."""
    return trigger_result(trigger, event) is not Result.FAIL


# --------------------------------------------------------------------------------------------
# CESQL (CloudEvents SQL), the subset a Trigger filter uses
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\")"
    r"|(?P<number>\d+)"
    r"|(?P<op><>|!=|<=|>=|=|<|>|\(|\)|,|[-+*/%])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})


class _Missing(Exception):
    """An attribute the expression reads is absent: CESQL evaluation fails."""


@dataclass
class _Token:
    kind: str
    text: str


def _tokens(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            raise FilterError(f"cesql: cannot read {expression[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the CESQL grammar's boolean and comparison part."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token.kind == "word" and token.text.upper() in words:
            self.index += 1
            return token.text.upper()
        return None

    def op(self, *ops: str) -> str | None:
        token = self.peek()
        if token and token.kind == "op" and token.text in ops:
            self.index += 1
            return token.text
        return None

    def refuse(self, what: str) -> FilterError:
        return FilterError(
            f"cesql: {what} in {self.expression!r} is not supported by this checker "
            "(comparisons, AND/OR/XOR/NOT, LIKE, IN and EXISTS are)"
        )

    def parse(self) -> tuple[Any, ...]:
        if not self.tokens:
            raise FilterError("cesql: empty expression")
        node = self.disjunction()
        if self.peek() is not None:
            token = self.peek()
            assert token is not None  # noqa: S101 - narrowed for the type checker
            if token.kind == "op" and token.text in "+-*/%":
                raise self.refuse(f"arithmetic ({token.text})")
            raise FilterError(f"cesql: unexpected {token.text!r} in {self.expression!r}")
        return node

    def disjunction(self) -> tuple[Any, ...]:
        node = self.exclusive()
        while self.keyword("OR"):
            node = ("or", node, self.exclusive())
        return node

    def exclusive(self) -> tuple[Any, ...]:
        node = self.conjunction()
        while self.keyword("XOR"):
            node = ("xor", node, self.conjunction())
        return node

    def conjunction(self) -> tuple[Any, ...]:
        node = self.negation()
        while self.keyword("AND"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple[Any, ...]:
        if self.keyword("NOT"):
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> tuple[Any, ...]:
        left = self.atom()
        operator = self.op("=", "!=", "<>", "<", "<=", ">", ">=")
        if operator:
            return ("cmp", operator, left, self.atom())
        negated = bool(self.keyword("NOT"))
        if self.keyword("LIKE"):
            pattern = self.atom()
            if pattern[0] != "lit" or not isinstance(pattern[1], str):
                raise self.refuse("LIKE with a pattern that is not a string literal")
            node: tuple[Any, ...] = ("like", left, pattern[1])
            return ("not", node) if negated else node
        if self.keyword("IN"):
            if not self.op("("):
                raise FilterError(f"cesql: IN needs a parenthesised list in {self.expression!r}")
            items = [self.atom()]
            while self.op(","):
                items.append(self.atom())
            if not self.op(")"):
                raise FilterError(f"cesql: unclosed IN list in {self.expression!r}")
            node = ("in", left, items)
            return ("not", node) if negated else node
        if negated:
            raise FilterError(f"cesql: NOT must precede LIKE or IN here: {self.expression!r}")
        return left

    def atom(self) -> tuple[Any, ...]:  # noqa: PLR0912 - one branch per kind of token
        token = self.peek()
        if token is None:
            raise FilterError(f"cesql: the expression {self.expression!r} ends too early")
        if self.op("("):
            node = self.disjunction()
            if not self.op(")"):
                raise FilterError(f"cesql: unclosed parenthesis in {self.expression!r}")
            return node
        if self.op("-"):
            number = self.peek()
            if number is None or number.kind != "number":
                raise self.refuse("unary minus on something other than a number")
            self.index += 1
            return ("lit", -int(number.text))
        self.index += 1
        if token.kind == "string":
            quote = token.text[0]
            body = token.text[1:-1].replace(quote * 2, quote)
            return ("lit", re.sub(r"\\(.)", r"\1", body))
        if token.kind == "number":
            return ("lit", int(token.text))
        if token.kind == "word":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                return ("lit", word == "TRUE")
            if word == "EXISTS":
                name = self.peek()
                if name is None or name.kind != "word":
                    raise FilterError(f"cesql: EXISTS needs an attribute in {self.expression!r}")
                self.index += 1
                return ("exists", name.text.lower())
            if word in _KEYWORDS:
                raise FilterError(f"cesql: unexpected {token.text!r} in {self.expression!r}")
            if self.op("("):
                raise self.refuse(f"the function {token.text}()")
            return ("attr", token.text.lower())
        raise self.refuse(f"the operator {token.text!r}")


def parse_cesql(expression: str) -> tuple[Any, ...]:
    """The expression's syntax tree; :class:`FilterError` when it is outside the subset."""
    return _Parser(expression).parse()


def _value(node: tuple[Any, ...], event: Mapping[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "attr":
        value = lookup(event, node[1])
        if value is None:
            raise _Missing(node[1])
        return value
    if kind == "exists":
        return lookup(event, node[1]) is not None
    return _boolean(node, event)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _Missing(f"{value!r} is no integer") from None


def _compare(operator: str, left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = str(left).lower() == "true", str(right).lower() == "true"
    elif isinstance(left, int) or isinstance(right, int) or operator in ("<", "<=", ">", ">="):
        left, right = _integer(left), _integer(right)
    if operator == "=":
        return bool(left == right)
    if operator in ("!=", "<>"):
        return bool(left != right)
    results: dict[str, bool] = {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return results[operator]


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _boolean(node: tuple[Any, ...], event: Mapping[str, Any]) -> bool:
    kind = node[0]
    if kind in ("and", "or", "xor"):
        left, right = _truth(node[1], event), _truth(node[2], event)
        return {"and": left and right, "or": left or right, "xor": left != right}[kind]
    if kind == "not":
        return not _truth(node[1], event)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], event), _value(node[3], event))
    if kind == "like":
        return _like(str(_value(node[1], event)), node[2])
    if kind == "in":
        value = _value(node[1], event)
        return any(_compare("=", value, _value(item, event)) for item in node[2])
    return _truth(node, event)


def _truth(node: tuple[Any, ...], event: Mapping[str, Any]) -> bool:
    if node[0] in ("lit", "attr", "exists"):
        value = _value(node, event)
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text not in ("true", "false"):
            raise _Missing(f"{value!r} is no boolean")
        return text == "true"
    return _boolean(node, event)


def cesql_filter(expression: str, event: Mapping[str, Any]) -> Result:
    """A ``cesql`` expression: PASS when true; FAIL when false or its evaluation fails."""
    if expression == "":
        return Result.NONE
    tree = parse_cesql(expression)
    try:
        return Result.PASS if _truth(tree, event) else Result.FAIL
    except _Missing:
        return Result.FAIL
