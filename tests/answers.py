"""The answer space of copier.yml, read from copier.yml itself.

Three views of it, all derived from the questions file so that a new question or a new
choice shows up in the tests without editing a hand-kept list:

* ``choice_questions()`` / ``bool_questions()``: the finite part of the space;
* ``pairwise_answer_sets()``: a set of answer sets that covers every feasible pair of
  values of those questions (allpairspy), honouring the constraints between them and
  the ``when`` of each question (a hidden question keeps its default, so that every
  pair is covered by a row where both questions are actually asked);
* ``answers()``: a Hypothesis strategy that draws whole answer sets, numbers and strings
  included, inside the limits the validators in copier.yml accept.

``DRAWERS`` names a drawing rule for every question; ``test_answer_space.py`` fails when
copier.yml gains a question that has none, so the strategy cannot silently miss one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from allpairspy import AllPairs
from hypothesis import strategies as st
from renderer import REPO_ROOT

COPIER_YML = REPO_ROOT / "copier.yml"

#: Questions that copier computes (``when: false``): never answered, never recorded.
Answers = dict[str, Any]


# ---------------------------------------------------------------------------
# Reading copier.yml
# ---------------------------------------------------------------------------
@cache
def load_questions(path: Path = COPIER_YML) -> dict[str, dict[str, Any]]:
    """Every question of copier.yml in file order (settings starting with ``_`` dropped)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        name: spec if isinstance(spec, dict) else {"default": spec}
        for name, spec in raw.items()
        if not name.startswith("_")
    }


def computed_questions() -> list[str]:
    """Questions with a literal ``when: false``: copier computes them from other answers."""
    return [n for n, q in load_questions().items() if q.get("when") is False]


def choice_values(name: str) -> list[Any]:
    """The values a choice question accepts (dict choices map label -> value)."""
    choices = load_questions()[name]["choices"]
    if isinstance(choices, dict):
        return list(choices.values())
    return [c[1] if isinstance(c, list | tuple) else c for c in choices]


def choice_questions() -> list[str]:
    """Single-choice questions (``choices`` without ``multiselect``)."""
    return [n for n, q in load_questions().items() if "choices" in q and not q.get("multiselect")]


def multiselect_questions() -> list[str]:
    return [n for n, q in load_questions().items() if "choices" in q and q.get("multiselect")]


def bool_questions() -> list[str]:
    return [n for n, q in load_questions().items() if q.get("type") == "bool"]


def finite_questions() -> list[str]:
    """Choice, multiselect and bool questions in copier.yml order."""
    wanted = set(choice_questions()) | set(multiselect_questions()) | set(bool_questions())
    return [n for n in load_questions() if n in wanted]


def nonempty_subsets(values: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [
        combo
        for size in range(1, len(values) + 1)
        for combo in itertools.combinations(values, size)
    ]


# ---------------------------------------------------------------------------
# `when` and the constraints between answers
# ---------------------------------------------------------------------------
_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@cache
def _when_template(name: str) -> jinja2.Template | None:
    when = load_questions()[name].get("when")
    if when is None or isinstance(when, bool):
        return None
    return _JINJA.from_string(str(when))


def is_asked(name: str, context: Mapping[str, Any]) -> bool | None:
    """Whether copier asks ``name`` given ``context``; None when context lacks a needed answer."""
    when = load_questions()[name].get("when")
    if when is None:
        return True
    if isinstance(when, bool):
        return when
    template = _when_template(name)
    assert template is not None
    ctx = {k: list(v) if isinstance(v, tuple) else v for k, v in context.items()}
    try:
        rendered = template.render(**ctx).strip()
    except jinja2.UndefinedError:
        return None
    return rendered.lower() not in {"", "false", "0", "no", "off", "none", "n", "f"}


#: autoscaling_metric values each autoscaling class accepts (copier.yml metric-for-class).
METRICS_FOR_CLASS = {"kpa": ("concurrency", "rps"), "hpa": ("cpu", "memory")}


def consistent(row: Mapping[str, Any]) -> bool:
    """Constraints between finite answers; True when ``row`` (possibly partial) is fine."""
    cls, metric = row.get("autoscaling_class"), row.get("autoscaling_metric")
    if cls is not None and metric is not None and metric not in METRICS_FOR_CLASS[cls]:
        return False
    envs = row.get("environments")
    if envs is not None and len(envs) == 0:
        return False
    return not (row.get("event_policy") and not event_policy_allowed(row))


def event_policy_allowed(row: Mapping[str, Any]) -> bool:
    """copier.yml's event_policy validators: Knative 1.16+ (not 1.15), and a sender (the
    KafkaSource in a pairwise row, whose event_policy_senders keeps its empty default)."""
    return row.get("knative_version") != "1.15" and row.get("kafka_source") is not False


def _canonical(name: str) -> Any:
    """The value a hidden question keeps in pairwise rows: its default, else first choice."""
    question = load_questions()[name]
    default = question.get("default")
    if question.get("type") == "bool":
        return bool(default)
    if question.get("multiselect"):
        return tuple(default)
    values = choice_values(name)
    return default if default in values else values[0]


# ---------------------------------------------------------------------------
# Pairwise set
# ---------------------------------------------------------------------------
def pairwise_parameters() -> dict[str, list[Any]]:
    """Each finite question with its values; the default (or canonical) value first."""
    params: dict[str, list[Any]] = {}
    for name in finite_questions():
        question = load_questions()[name]
        if question.get("type") == "bool":
            values: list[Any] = [True, False]
        elif question.get("multiselect"):
            values = nonempty_subsets(choice_values(name))
        else:
            values = choice_values(name)
        canonical = _canonical(name)
        params[name] = [canonical, *[v for v in values if v != canonical]]
    return params


def row_ok(names: Sequence[str], row: Sequence[Any]) -> bool:
    """allpairspy filter: constraints hold and every hidden question keeps its canonical value."""
    return _row_ok(tuple(names[: len(row)]), tuple(row))


@cache
def _row_ok(names: tuple[str, ...], row: tuple[Any, ...]) -> bool:
    partial = dict(zip(names, row, strict=True))
    if not consistent(partial):
        return False
    return all(
        is_asked(name, partial) is not False or value == _canonical(name)
        for name, value in partial.items()
    )


def to_answers(names: Sequence[str], row: Sequence[Any]) -> Answers:
    """A pairwise row as copier ``data`` (multiselect tuples become lists)."""
    return {n: list(v) if isinstance(v, tuple) else v for n, v in zip(names, row, strict=True)}


Pair = tuple[tuple[int, Any], tuple[int, Any]]


def _complete_row(
    names: Sequence[str],
    params: Sequence[list[Any]],
    fixed: Mapping[int, Any],
    wanted: set[Pair] | None = None,
) -> tuple[Any, ...] | None:
    """A full row that satisfies ``row_ok`` and holds ``fixed``; None when none exists.

    With ``wanted``, each free position prefers the value that completes the most of
    those pairs with the values chosen so far (a greedy step that keeps the set small).
    """

    def gain(prefix: Sequence[Any], i: int, value: Any) -> int:
        if not wanted:
            return 0
        return sum(((j, prefix[j]), (i, value)) in wanted for j in range(i))

    def search(prefix: list[Any]) -> tuple[Any, ...] | None:
        i = len(prefix)
        if i == len(names):
            return tuple(prefix)
        options = [fixed[i]] if i in fixed else params[i]
        options = sorted(options, key=lambda v: -gain(prefix, i, v))
        for value in options:
            candidate = [*prefix, value]
            if row_ok(names, candidate):
                found = search(candidate)
                if found is not None:
                    return found
        return None

    return search([])


def _pairs_of(row: Sequence[Any]) -> set[Pair]:
    return {((i, a), (j, b)) for (i, a), (j, b) in itertools.combinations(enumerate(row), 2)}


@cache
def _feasible_pairs() -> frozenset[Pair]:
    params = pairwise_parameters()
    names, values = list(params), list(params.values())
    feasible: set[Pair] = set()
    for i, j in itertools.combinations(range(len(names)), 2):
        for va in values[i]:
            for vb in values[j]:
                pair = ((i, va), (j, vb))
                if pair in feasible:
                    continue
                row = _complete_row(names, values, {i: va, j: vb})
                if row is not None:
                    feasible |= _pairs_of(row)
    return frozenset(feasible)


def feasible_pairs() -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    """Every pair of (question, value) that some row satisfying ``row_ok`` contains."""
    names = list(pairwise_parameters())
    return {((names[i], a), (names[j], b)) for (i, a), (j, b) in _feasible_pairs()}


@cache
def _pairwise_rows() -> tuple[tuple[Any, ...], ...]:
    """allpairspy's rows, then greedy extra rows for the pairs its filter made it miss."""
    params = pairwise_parameters()
    names, values = list(params), list(params.values())
    rows = [tuple(r) for r in AllPairs(values, filter_func=lambda r: row_ok(names, r))]
    missing = set(_feasible_pairs()) - set().union(*map(_pairs_of, rows))
    while missing:
        (i, va), (j, vb) = min(missing, key=repr)
        row = _complete_row(names, values, {i: va, j: vb}, missing)
        assert row is not None, f"feasible pair {names[i]}={va!r}, {names[j]}={vb!r} has no row"
        rows.append(row)
        missing -= _pairs_of(row)
    return tuple(rows)


def pairwise_answer_sets() -> list[Answers]:
    names = list(pairwise_parameters())
    return [to_answers(names, row) for row in _pairwise_rows()]


def covered_pairs(
    sets: Sequence[Mapping[str, Any]],
) -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    """The (question, value) pairs a list of answer sets covers (lists compared as tuples)."""
    names = list(pairwise_parameters())
    covered = set()
    for data in sets:
        row = [tuple(data[n]) if isinstance(data[n], list) else data[n] for n in names]
        covered |= {((names[i], a), (names[j], b)) for (i, a), (j, b) in _pairs_of(row)}
    return covered


def answer_set_id(data: Mapping[str, Any]) -> str:
    """A short, stable test id naming the non-default finite answers of a pairwise row."""
    parts = []
    for name, value in data.items():
        if value == _canonical(name) or (
            isinstance(value, list) and tuple(value) == _canonical(name)
        ):
            continue
        if isinstance(value, list):
            parts.append("+".join(value))
        elif isinstance(value, bool):
            parts.append(("" if value else "no-") + name)
        else:
            parts.append(str(value))
    return "-".join(parts) or "defaults"


# ---------------------------------------------------------------------------
# Hypothesis strategy for whole answer sets
# ---------------------------------------------------------------------------
DrawFn = Callable[[st.SearchStrategy[Any]], Any]
Drawer = Callable[[DrawFn, Answers], Any]

_LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"


def dns1035_label(max_size: int = 63) -> st.SearchStrategy[str]:
    """Lowercase letters, digits and single '-', starting with a letter."""
    return st.from_regex(rf"\A[a-z](?:[-a-z0-9]{{0,{max_size - 2}}}[a-z0-9])?\Z", fullmatch=True)


def dns1123_label(max_size: int = 63) -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A[a-z0-9](?:[-a-z0-9]{{0,{max_size - 2}}}[a-z0-9])?\Z", fullmatch=True)


def _one_line_text(max_size: int) -> st.SearchStrategy[str]:
    """One line of assigned, printable text: letters of any script, symbols, emoji."""
    return st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Co", "Zl", "Zp")), max_size=max_size
    )


def _choice(name: str) -> Drawer:
    return lambda draw, _: draw(st.sampled_from(choice_values(name)))


def _bool(draw: DrawFn, _: Answers) -> bool:
    return bool(draw(st.booleans()))


#: Names copier.yml refuses for service_name and broker_name: YAML 1.1 (kustomize) reads them
#: as booleans or null.
YAML_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _service_name(draw: DrawFn, _: Answers) -> str:
    name = st.one_of(st.just("hello-events"), dns1035_label(50))
    return str(draw(name.filter(lambda n: n not in YAML_KEYWORDS)))


def _email(draw: DrawFn, _: Answers) -> str:
    return str(draw(st.from_regex(r"\A[a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}\Z")))


def _author(draw: DrawFn, _: Answers) -> str:
    return str(draw(_one_line_text(40).filter(lambda s: s.strip() != "")))


def _port(draw: DrawFn, _: Answers) -> int:
    reserved = {8012, 8013, 8022, 9090, 9091, 8008}
    return int(
        draw(st.one_of(st.just(8080), st.integers(1, 65535)).filter(lambda p: p not in reserved))
    )


_IMAGE_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+){0,2}"


def _image(draw: DrawFn, answers: Answers) -> str:
    if draw(st.booleans()):
        return f"ghcr.io/example/{answers['service_name']}"  # copier.yml's default
    host = draw(st.sampled_from(["ghcr.io", "registry.example.com:5000", "quay.io", "localhost"]))
    path = draw(
        st.lists(st.from_regex(rf"\A{_IMAGE_COMPONENT}\Z", fullmatch=True), min_size=1, max_size=3)
    )
    return f"{host}/{'/'.join(path)}"


_EVENT_TYPE = st.one_of(
    st.from_regex(r"\A(?:com|org|dev|io)\.[a-z]{1,12}(?:\.[a-z]{1,12}){1,3}\Z", fullmatch=True),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}\Z", fullmatch=True),
)


def _event_types(draw: DrawFn, _: Answers) -> list[str]:
    return list(draw(st.lists(_EVENT_TYPE, min_size=1, max_size=4, unique=True)))


_MANAGER_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")


def _service_manager(draw: DrawFn, answers: Answers) -> bool:
    """On only where copier.yml allows it: the first event type names the manager's types."""
    prefix = ".".join(answers["event_types"][0].split(".")[:2])
    own = {f"{prefix}.build.completed", f"{prefix}.service.delete"}
    usable = _MANAGER_PREFIX.fullmatch(prefix) is not None and not own & set(answers["event_types"])
    return bool(draw(st.booleans())) and usable


def _manager_registries(draw: DrawFn, answers: Answers) -> list[str]:
    """The default (registry and owner of the image), or other prefixes, or none."""
    default = "/".join(answers["image"].split("/")[:2])
    other = st.sampled_from(["ghcr.io", "ghcr.io/acme", "registry.example.com:5000/team/sub"])
    return list(draw(st.one_of(st.just([default]), st.lists(other, max_size=2, unique=True))))


def _manager_namespace(draw: DrawFn, answers: Answers) -> str:
    """The default (<namespace>-managed) or any other DNS-1123 label but the namespace."""
    default = f"{answers['namespace'][:46]}-managed"
    drawn = draw(st.one_of(st.just(default), dns1123_label(54)))
    return default if drawn == answers["namespace"] else str(drawn)


def _namespace(draw: DrawFn, answers: Answers) -> str:
    return str(draw(st.one_of(st.just(answers["service_name"]), dns1123_label(54))))


def _environments(draw: DrawFn, _: Answers) -> list[str]:
    return list(
        draw(
            st.lists(
                st.sampled_from(choice_values("environments")), min_size=1, max_size=3, unique=True
            )
        )
    )


def _metric(draw: DrawFn, answers: Answers) -> str:
    allowed = [
        m
        for m in choice_values("autoscaling_metric")
        if m in METRICS_FOR_CLASS[answers["autoscaling_class"]]
    ]
    return str(draw(st.sampled_from(allowed)))


def _target(draw: DrawFn, answers: Answers) -> float:
    top = 100.0 if answers["autoscaling_metric"] == "cpu" else 10000.0
    return float(
        draw(
            st.one_of(
                st.integers(1, int(top)).map(float),
                st.floats(0.01, top, allow_nan=False, allow_infinity=False).map(
                    lambda f: round(f, 2)
                ),
            ).filter(lambda f: 0.01 <= f <= top)
        )
    )


INT32_MAX = 2**31 - 1


def _min_scale(draw: DrawFn, answers: Answers) -> int:
    low = 1 if answers["autoscaling_class"] == "hpa" else 0
    return int(draw(st.one_of(st.integers(low, 10), st.integers(low, INT32_MAX))))


def _max_scale(draw: DrawFn, answers: Answers) -> int:
    low = max(answers["min_scale"], 1)
    return int(
        draw(st.one_of(st.just(0), st.integers(low, min(low + 100, INT32_MAX)), st.just(INT32_MAX)))
    )


def _go_duration(total: int, style: int) -> str:
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if style == 0:
        return f"{total}s"
    if style == 1 and total % 60 == 0:
        return f"{total // 60}m"
    parts = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return parts or "0s"


def _scale_down_delay(draw: DrawFn, _: Answers) -> str:
    total = draw(st.one_of(st.sampled_from([0, 30, 60, 300, 3600]), st.integers(0, 3600)))
    return _go_duration(int(total), int(draw(st.integers(0, 2))))


def _int_between(low: int, high: int) -> Drawer:
    return lambda draw, _: int(draw(st.integers(low, high)))


def _cpu_text(millis: int, draw: DrawFn) -> str:
    if millis % 1000 == 0 and draw(st.booleans()):
        return str(millis // 1000)
    if millis % 100 == 0 and draw(st.booleans()):
        return f"{millis / 1000:g}"
    return f"{millis}m"


def _cpu_request(draw: DrawFn, answers: Answers) -> str:
    millis = int(draw(st.integers(1, 4000)))
    answers["_cpu_request_m"] = millis
    return _cpu_text(millis, draw)


def _cpu_limit(draw: DrawFn, answers: Answers) -> str:
    request = answers.pop("_cpu_request_m")
    return _cpu_text(int(draw(st.integers(request, 8000))), draw)


_MEM_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "k": 1000, "M": 1000**2, "G": 1000**3}


def _memory_text(nbytes: int, draw: DrawFn) -> str:
    units = [u for u, f in _MEM_UNITS.items() if nbytes % f == 0]
    unit = draw(st.sampled_from(["", *units]))
    return f"{nbytes // _MEM_UNITS[unit]}{unit}" if unit else str(nbytes)


def _memory_request(draw: DrawFn, answers: Answers) -> str:
    nbytes = int(draw(st.integers(16, 4096))) * 1024**2
    answers["_memory_request_b"] = nbytes
    return _memory_text(nbytes, draw)


def _memory_limit(draw: DrawFn, answers: Answers) -> str:
    request = answers.pop("_memory_request_b")
    nbytes = int(draw(st.integers(request // 1024**2, 8192))) * 1024**2
    return _memory_text(nbytes, draw)


def _trigger_source(draw: DrawFn, _: Answers) -> str:
    return str(
        draw(
            st.one_of(
                st.just(""),
                st.sampled_from(["https://example.com/orders", "/apis/v1/namespaces/x", "ci"]),
                st.from_regex(r"\A[!-~]{1,40}\Z", fullmatch=True),
            )
        )
    )


def _backoff_delay(draw: DrawFn, _: Answers) -> str:
    return str(
        draw(
            st.one_of(
                st.sampled_from(["PT1S", "PT0.5S", "PT2M", "PT1H"]),
                st.integers(1, 600).map(lambda n: f"PT{n}S"),
                st.tuples(st.integers(0, 59), st.integers(1, 999)).map(
                    lambda t: f"PT{t[0]}.{t[1]:03d}S"
                ),
                st.tuples(st.integers(1, 2), st.integers(0, 59), st.integers(0, 59)).map(
                    lambda t: f"PT{t[0]}H{t[1]}M{t[2]}S"
                ),
            )
        )
    )


def _dead_letter_sink(draw: DrawFn, _: Answers) -> str:
    uri = st.builds(
        lambda scheme, host, path: f"{scheme}://{host}{path}",
        st.sampled_from(["https", "http"]),
        st.sampled_from(["dls.example.com", "10.0.0.1:8080", "sink.default.svc.cluster.local"]),
        st.sampled_from(["", "/", "/dead-letters", "/a/b?x=1"]),
    )
    return str(draw(st.one_of(st.just(""), dns1035_label(63), uri)))


def _bootstrap(draw: DrawFn, _: Answers) -> str:
    server = st.builds(
        lambda h, p: f"{h}:{p}",
        st.from_regex(
            r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}\Z", fullmatch=True
        ),
        st.integers(1, 65535),
    )
    return ",".join(draw(st.lists(server, min_size=1, max_size=3)))


_KAFKA_NAME = st.from_regex(r"\A[A-Za-z0-9._-]{1,249}\Z", fullmatch=True).filter(
    lambda s: s not in {".", ".."}
)


def _kafka_topics(draw: DrawFn, _: Answers) -> list[str]:
    return list(draw(st.lists(_KAFKA_NAME, min_size=1, max_size=3, unique=True)))


def _consumer_group(draw: DrawFn, answers: Answers) -> str:
    return str(draw(st.one_of(st.just(f"{answers['service_name']}-source"), _KAFKA_NAME)))


def _event_policy(draw: DrawFn, answers: Answers) -> bool:
    """On only where copier.yml allows it (Knative 1.16+)."""
    return answers["knative_version"] != "1.15" and bool(draw(st.booleans()))


_SENDER = st.builds(
    lambda namespace, account: f"{namespace}/{account}",
    dns1123_label(20),
    st.one_of(st.just("*"), dns1123_label(30)),
)


def _event_policy_senders(draw: DrawFn, answers: Answers) -> list[str]:
    """namespace/name senders; at least one when no KafkaSource sends (copier.yml)."""
    minimum = 0 if answers.get("kafka_source") else 1
    return list(draw(st.lists(_SENDER, min_size=minimum, max_size=3, unique=True)))


def _git_repo_url(draw: DrawFn, answers: Answers) -> str:
    name = answers["service_name"]
    return str(
        draw(
            st.sampled_from(
                [
                    f"https://github.com/example/{name}.git",
                    f"git@github.com:acme/{name}.git",
                    f"ssh://git@git.example.com:2222/acme/{name}.git",
                    f"https://gitlab.example.com/group/sub/{name}",
                ]
            )
        )
    )


def _argocd_project(draw: DrawFn, answers: Answers) -> str:
    return str(
        draw(
            st.one_of(st.just(answers["service_name"]), dns1123_label(63)).filter(
                lambda p: p != "default"
            )
        )
    )


#: How each question of copier.yml is drawn, in an order where dependencies come first.
#: Choice and bool questions draw from copier.yml's own choices; free-form ones stay
#: inside the limits the question's validator accepts.
DRAWERS: dict[str, Drawer] = {
    "service_name": _service_name,
    "description": lambda draw, _: str(draw(_one_line_text(80))),
    "author_name": _author,
    "author_email": _email,
    "python_version": _choice("python_version"),
    "knative_version": _choice("knative_version"),
    "port": _port,
    "image": _image,
    "event_types": _event_types,
    "namespace": _namespace,
    "environments": _environments,
    "autoscaling_class": _choice("autoscaling_class"),
    "autoscaling_metric": _metric,
    "autoscaling_target": _target,
    "min_scale": _min_scale,
    "max_scale": _max_scale,
    "scale_down_delay": _scale_down_delay,
    "container_concurrency": _int_between(0, 1000),
    "timeout_seconds": _int_between(1, 600),
    "cpu_request": _cpu_request,
    "cpu_limit": _cpu_limit,
    "memory_request": _memory_request,
    "memory_limit": _memory_limit,
    "canary": _bool,
    "canary_percent": _int_between(1, 99),
    "public": _bool,
    "network_policy": _bool,
    "istio": _bool,
    "istio_mtls_mode": _choice("istio_mtls_mode"),
    "metrics_namespace": lambda draw, _: str(
        draw(st.one_of(st.just("monitoring"), dns1123_label(63)))
    ),
    "eventing": _bool,
    "broker_class": _choice("broker_class"),
    "broker_name": lambda draw, _: str(
        draw(
            st.one_of(st.just("default"), dns1035_label(63)).filter(
                lambda n: n not in YAML_KEYWORDS
            )
        )
    ),
    "trigger_source": _trigger_source,
    "event_auth": _choice("event_auth"),
    "delivery_retry": _int_between(0, 100),
    "delivery_backoff_policy": _choice("delivery_backoff_policy"),
    "delivery_backoff_delay": _backoff_delay,
    "dead_letter_sink": _dead_letter_sink,
    "rabbitmq_parallelism": _int_between(1, 1000),
    "rabbitmq_cluster": lambda draw, _: str(
        draw(st.one_of(st.just("rabbitmq"), dns1123_label(63)))
    ),
    "kafka_source": _bool,
    "kafka_bootstrap_servers": _bootstrap,
    "kafka_topics": _kafka_topics,
    "kafka_consumer_group": _consumer_group,
    "kafka_initial_offset": _choice("kafka_initial_offset"),
    "event_policy": _event_policy,
    "event_policy_senders": _event_policy_senders,
    "argocd": _bool,
    "git_repo_url": _git_repo_url,
    "argocd_project": _argocd_project,
    "argocd_auto_sync_prod": _bool,
    "service_manager": _service_manager,
    "backstage": _bool,
    "backstage_owner": lambda draw, _: str(
        draw(
            st.one_of(
                st.just("group:platform-team"),
                st.builds(
                    "{}:{}{}".format,
                    st.sampled_from(["group", "user"]),
                    st.sampled_from(["", "default/", "team-a/"]),
                    st.from_regex(
                        r"[A-Za-z0-9]{1,10}([-_.][A-Za-z0-9]{1,10}){0,2}", fullmatch=True
                    ),
                ),
            )
        )
    ),
    "backstage_system": lambda draw, _: str(
        draw(
            st.one_of(
                st.just(""),
                st.from_regex(
                    r"([a-z0-9]{1,8}/)?[A-Za-z0-9]{1,10}([-_.][A-Za-z0-9]{1,10})?", fullmatch=True
                ),
            )
        )
    ),
    "service_manager_sources": lambda draw, _: list(
        draw(st.lists(st.from_regex(r"\A/[a-z0-9/._-]{0,30}\Z", fullmatch=True), max_size=3))
    ),
    "service_manager_registries": _manager_registries,
    "service_manager_namespace": _manager_namespace,
    "idempotency": _choice("idempotency"),
    "idempotency_ttl": _int_between(1, 604800),
    "tracing": _bool,
}


@st.composite
def answers(draw: DrawFn) -> Answers:
    """A whole answer set that every validator in copier.yml accepts.

    Questions are drawn in copier.yml order through ``DRAWERS``; a question without a
    drawer raises here (and in test_answer_space.py), so the strategy keeps up with
    copier.yml.
    """
    data: Answers = {}
    computed = set(computed_questions())
    for name in load_questions():
        if name in computed:
            continue
        if name not in DRAWERS:
            raise KeyError(f"copier.yml question {name!r} has no drawer in tests/answers.py")
        data[name] = DRAWERS[name](draw, data)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def recorded_mismatches(data: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[str]:
    """How the answers file ``recorded`` fails to record the answers ``data``.

    A question copier asks must be in the file, with the given value when one was given;
    a question it does not ask (``when`` false) must not be.
    """
    context = {**recorded, **data}
    problems = []
    for name in load_questions():
        asked = is_asked(name, context)
        if asked is False:
            if name in recorded:
                problems.append(f"{name} is not asked but is recorded as {recorded[name]!r}")
            continue
        if name not in recorded:
            problems.append(f"{name} is asked but missing from the answers file")
            continue
        if name not in data:
            continue
        given, got = data[name], recorded[name]
        same = (
            sorted(given) == sorted(got)
            if load_questions()[name].get("multiselect")
            else given == got
        )
        if not same:
            problems.append(f"{name}: answered {given!r}, recorded {got!r}")
    return problems


# ---------------------------------------------------------------------------
# copier.yml's own Jinja: defaults and validators evaluated in-process
# ---------------------------------------------------------------------------
@cache
def copier_jinja() -> jinja2.Environment:
    """A Jinja environment like the one copier renders copier.yml's expressions with."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def _compiled(source: str) -> jinja2.Template:
    return copier_jinja().from_string(source)


def _cast(name: str, value: Any) -> Any:
    kind = load_questions()[name].get("type", "yaml")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() in {"true", "yes", "1"}
    if kind in {"yaml", "json"} and isinstance(value, str):
        return yaml.safe_load(value)
    return value


def default_context(overrides: Mapping[str, Any] | None = None) -> Answers:
    """Every answer copier would use with ``--defaults`` and ``overrides`` as data."""
    overrides = dict(overrides or {})
    context: Answers = {}
    for name, question in load_questions().items():
        if name in overrides:
            context[name] = _cast(name, overrides[name])
            continue
        default = question.get("default")
        if isinstance(default, str) and ("{{" in default or "{%" in default):
            default = _compiled(default).render(**context)
        context[name] = _cast(name, default) if default is not None else None
    return context


def validator_for(name: str, context: Mapping[str, Any] | None = None) -> Callable[[Any], str]:
    """``validator_message`` for many values of one question that no default depends on."""
    validator = load_questions()[name].get("validator")
    base = default_context(context)
    template = _compiled(validator) if validator else None

    def message(value: Any) -> str:
        if template is None:
            return ""
        ctx = {**base, name: _cast(name, value)}
        ctx["_copier_conf"] = {
            "data": {**(context or {}), name: value},
            "answers_file": "",
            "dst_path": "service",
        }
        ctx["_copier_answers"] = ctx
        return template.render(**ctx).strip()

    return message


def validator_message(name: str, value: Any, context: Mapping[str, Any] | None = None) -> str:
    """What copier.yml's validator of ``name`` says about ``value`` ('' when it accepts it)."""
    return validator_messages({**(context or {}), name: value}, [name])[name]


def validator_messages(
    data: Mapping[str, Any], names: Sequence[str] | None = None
) -> dict[str, str]:
    """What each validator says about the answers ``data`` (defaults for the rest)."""
    answers = default_context(data)
    # What copier adds to the context of validators (a copy, not an update: no `_commit`).
    ctx = {
        **answers,
        "_copier_conf": {
            "data": dict(data),
            "answers_file": ".copier-answers.yml",
            "dst_path": "service",
        },
        "_copier_answers": answers,
    }
    messages = {}
    for name in names if names is not None else list(data):
        validator = load_questions()[name].get("validator")
        messages[name] = _compiled(validator).render(**ctx).strip() if validator else ""
    return messages
