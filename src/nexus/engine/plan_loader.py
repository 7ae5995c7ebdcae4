"""Reading plans: YAML or JSON text, or an already parsed mapping, into a :class:`Plan`.

Users write steps as a mapping of key → node and say the node's kind by the one
kind key it carries (``agent: code``, ``tool: pytest``, ``loop: {...}`` …); the
loader fills in each node's ``kind`` and ``key``, also inside loop, parallel and
sequence groups. A group may be written in full, ``parallel: {steps: {...},
max_concurrency: 2}``, or as the shorthand ``parallel: {a: {...}, b: {...}}``.

Every structural mistake becomes one :class:`~nexus.errors.PlanProblem` naming
the node path (``validate/run_tests``) and the field, and all of them are raised
together as one :class:`~nexus.errors.PlanError`. Meaning (cycles, references,
tools, expressions) is checked afterwards by :mod:`nexus.engine.validation`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nexus.domain import plan as plan_types
from nexus.domain.plan import GROUP_KINDS, NODE_KINDS, Node, Plan, node_children
from nexus.errors import NotFoundError, PlanError, PlanProblem

__all__ = [
    "get_node",
    "iter_nodes",
    "load_plan_file",
    "parse_plan",
    "parse_plan_text",
    "plan_to_dict",
    "step_paths",
]

PlanFormat = Literal["yaml", "json"]

_KIND_LIST = ", ".join(NODE_KINDS)
_NODE_CLASSES: dict[str, type[BaseModel]] = {
    "agent": plan_types.AgentNode,
    "tool": plan_types.ToolNode,
    "gate": plan_types.GateNode,
    "human": plan_types.HumanNode,
    "condition": plan_types.ConditionNode,
    "loop": plan_types.LoopNode,
    "parallel": plan_types.ParallelNode,
    "sequence": plan_types.SequenceNode,
    "transform": plan_types.TransformNode,
}
_UNION_MEMBERS = frozenset({"int", "str", "float", "bool", "list", "dict", "none"})


# --- from a mapping ---------------------------------------------------------------------------


def parse_plan(data: Any, source: str = "<plan>") -> Plan:
    """Build a :class:`Plan` from parsed YAML/JSON; raises one PlanError listing every problem."""
    if isinstance(data, Plan):
        return data
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else type(data).__name__
        raise PlanError(
            f"cannot read plan from {source}: a plan must be a mapping (got {got})",
            [PlanProblem(None, "invalid_plan", f"a plan must be a mapping (got {got})")],
        )
    problems: list[PlanProblem] = []
    prepared = dict(data)
    if "steps" in prepared:
        prepared["steps"] = _prepare_steps(prepared["steps"], "", problems)
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(prepared)
    except ValidationError as exc:
        problems.extend(_problems_from(exc))
    if problems or plan is None:
        name = data.get("name")
        label = f"plan '{name}'" if isinstance(name, str) else "plan"
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise PlanError(f"cannot read {label} from {source}: {count}", problems)
    return plan


def _prepare_steps(steps: Any, prefix: str, problems: list[PlanProblem]) -> Any:
    """Copy a steps mapping, filling in ``kind`` and ``key``; drops (and reports) bad nodes."""
    if not isinstance(steps, Mapping):
        return steps  # pydantic names the wrong type
    prepared: dict[Any, Any] = {}
    for key, node in steps.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if not isinstance(key, str):
            problems.append(PlanProblem(path, "bad_key", f"step key {key!r} must be a string"))
            continue
        if not isinstance(node, Mapping):
            got = "nothing" if node is None else f"{type(node).__name__} {node!r:.40}"
            message = f"a step must be a mapping of fields (got {got})"
            problems.append(PlanProblem(path, "invalid_node", message))
            continue
        kinds = [k for k in NODE_KINDS if k in node]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            message = f"a node needs exactly one of {_KIND_LIST} (found: {found})"
            problems.append(PlanProblem(path, "node_kind", message))
            continue
        kind = kinds[0]
        if node.get("kind", kind) != kind:
            message = f"field 'kind' says {node['kind']!r}, but the node is written as '{kind}'"
            problems.append(PlanProblem(path, "node_kind", message))
            continue
        if node.get("key", key) != key:
            message = f"field 'key' says {node['key']!r} but the step is keyed {key!r}"
            problems.append(PlanProblem(path, "bad_key", message))
            continue
        prepared_node = dict(node)
        prepared_node["kind"] = kind
        prepared_node["key"] = key
        if kind in GROUP_KINDS:
            prepared_node[kind] = _prepare_group(kind, node[kind], path, problems)
        prepared[key] = prepared_node
    return prepared


def _prepare_group(kind: str, spec: Any, path: str, problems: list[PlanProblem]) -> Any:
    if not isinstance(spec, Mapping):
        return spec
    if kind != "loop" and not _is_full_group(spec):
        return {"steps": _prepare_steps(spec, path, problems)}  # the shorthand: steps directly
    if "steps" not in spec:
        return spec
    prepared = dict(spec)
    prepared["steps"] = _prepare_steps(spec["steps"], path, problems)
    return prepared


def _is_full_group(spec: Mapping[str, Any]) -> bool:
    """``{steps: {...}, max_concurrency: n}`` rather than a mapping of steps."""
    steps = spec.get("steps")
    return (
        isinstance(steps, Mapping)
        and set(spec) <= {"steps", "max_concurrency", "order"}
        and not any(k in steps for k in NODE_KINDS)
    )


# --- pydantic errors in plain words -----------------------------------------------------------


def _problems_from(exc: ValidationError) -> list[PlanProblem]:
    merged: dict[tuple[str | None, str], tuple[str | None, list[ErrorDetails]]] = {}
    for error in exc.errors(include_url=False):
        node, kind, fields = _locate(error["loc"])
        while fields and isinstance(fields[-1], str) and fields[-1] in _UNION_MEMBERS:
            fields = fields[:-1]  # ``max: int | str`` reports once per member
        merged.setdefault((node, _field_name(fields)), (kind, []))[1].append(error)
    return [
        _describe(node, field, kind, errors) for (node, field), (kind, errors) in merged.items()
    ]


def _locate(loc: tuple[int | str, ...]) -> tuple[str | None, str | None, tuple[int | str, ...]]:
    """Split a pydantic location into (node path, node kind, field path within the node)."""
    if len(loc) < 3 or loc[0] != "steps":
        return None, None, loc
    path = [str(loc[1])]
    kind = str(loc[2])  # the discriminator tag
    rest = loc[3:]
    while len(rest) >= 4 and rest[0] in GROUP_KINDS and rest[1] == "steps":
        path.append(str(rest[2]))
        kind = str(rest[3])
        rest = rest[4:]
    return "/".join(path), kind, rest


def _field_name(fields: tuple[int | str, ...]) -> str:
    name = ""
    for part in fields:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _describe(
    node: str | None, field: str, kind: str | None, errors: list[ErrorDetails]
) -> PlanProblem:
    first = errors[0]
    if first["type"] == "extra_forbidden":
        message = f"unknown field '{field}'" + _suggestion(field, kind)
        return PlanProblem(node, "unknown_field", message)
    if first["type"] == "missing":
        return PlanProblem(node, "missing_field", f"missing field '{field}'")
    messages = list(dict.fromkeys(_lower_first(e["msg"]) for e in errors))
    reasons = " or ".join(
        [messages[0], *(m.removeprefix("input should be ") for m in messages[1:])]
    )
    got = json.dumps(first.get("input"), default=str)
    if len(got) > 60:
        got = got[:59] + "…"
    where = f"field '{field}'" if field else "value"
    return PlanProblem(node, "invalid_value", f"{where}: {reasons} (got {got})")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _suggestion(field: str, kind: str | None) -> str:
    name = field.rsplit(".", 1)[-1]
    if kind in _NODE_CLASSES and "." not in field:
        model = _NODE_CLASSES[kind]
        candidates = [
            info.alias or fname
            for fname, info in model.model_fields.items()
            if fname not in ("kind", "key")
        ]
    else:
        candidates = sorted(_all_field_names())
    others = [c for c in candidates if c != name]
    close = difflib.get_close_matches(name, others, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _all_field_names() -> set[str]:
    names: set[str] = set()
    models: list[type[BaseModel]] = [
        *_NODE_CLASSES.values(),
        plan_types.GateRule,
        plan_types.LoopSpec,
        plan_types.GroupSpec,
        plan_types.RetryPolicy,
        plan_types.InputSpec,
        plan_types.PlanSettings,
        Plan,
    ]
    for model in models:
        names.update(info.alias or fname for fname, info in model.model_fields.items())
    return names - {"kind", "key"}


# --- from text and files ----------------------------------------------------------------------


class _PlanYamlLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _read_text(text: str, source: str, fmt: PlanFormat) -> Any:
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as exc:
            raise _syntax_error(source, exc.lineno, exc.colno, exc.msg) from None
        except ValueError as exc:
            raise _syntax_error(source, None, None, str(exc)) from None
    try:
        return yaml.load(text, Loader=_PlanYamlLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = ": ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        if mark is None:
            raise _syntax_error(source, None, None, what) from None
        raise _syntax_error(source, mark.line + 1, mark.column + 1, what) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(source, None, None, str(exc)) from None


def _syntax_error(source: str, line: int | None, column: int | None, what: str) -> PlanError:
    where = f"line {line}, column {column}: " if line is not None else ""
    problem = PlanProblem(None, "syntax", f"{where}{what}")
    return PlanError(f"cannot read plan {source}: {where}{what}", [problem])


def _guess_format(text: str, source: str) -> PlanFormat:
    suffix = Path(source).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip().startswith(("{", "[")) else "yaml"


def parse_plan_text(text: str, source: str = "<plan>", fmt: PlanFormat | None = None) -> Plan:
    """Parse YAML or JSON text (``fmt``, else told by ``source``'s suffix or the content)."""
    data = _read_text(text, source, fmt or _guess_format(text, source))
    if data is None:
        raise PlanError(
            f"cannot read plan {source}: it is empty",
            [PlanProblem(None, "invalid_plan", "the plan is empty")],
        )
    return parse_plan(data, source=source)


def load_plan_file(path: str | Path) -> Plan:
    """Read and parse a plan file (``.yaml``/``.yml``, ``.json``, or told by its content)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"plan file '{file}' does not exist", path=str(file)) from None
    except IsADirectoryError:
        raise PlanError(f"plan file '{file}' is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"plan file '{file}' is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise PlanError(f"cannot read plan file '{file}': {exc.strerror}") from None
    return parse_plan_text(text, source=str(file))


# --- back to the user's format, and walking ---------------------------------------------------


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """A JSON-able dict in the format users write; ``parse_plan(plan_to_dict(p)) == p``."""
    data = plan.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude_none=True)
    data["version"] = plan.version
    data["steps"] = _strip_steps(plan.steps, data["steps"])
    ordered: dict[str, Any] = {k: data[k] for k in ("version", "name") if k in data}
    ordered.update((k, v) for k, v in data.items() if k not in ordered)
    return ordered


def _strip_steps(nodes: Mapping[str, Node], dumped: dict[str, Any]) -> dict[str, Any]:
    for key, node in nodes.items():
        entry = dumped[key]
        entry.pop("kind", None)
        entry.pop("key", None)
        children = node_children(node)
        if children is not None:
            spec = entry.setdefault(node.kind, {})
            spec["steps"] = _strip_steps(children, spec.get("steps", {}))
            order = spec.get("order")
            if order is not None and list(order) == sorted(order):
                del spec["order"]  # sorted keys (as stored) already give this order
    return dumped


def iter_nodes(plan: Plan) -> Iterator[tuple[str, Node]]:
    """Every node with its path (``group/child``), each group before its children."""

    def walk(nodes: Mapping[str, Node], prefix: str) -> Iterator[tuple[str, Node]]:
        for key, node in nodes.items():
            path = f"{prefix}/{key}" if prefix else key
            yield path, node
            children = node_children(node)
            if children:
                yield from walk(children, path)

    return walk(plan.steps, "")


def step_paths(plan: Plan) -> list[str]:
    """All node paths of a plan, group children as ``group/child``."""
    return [path for path, _ in iter_nodes(plan)]


def get_node(plan: Plan, path: str) -> Node:
    """The node at a path like ``validate/run_tests``; raises NotFoundError."""
    nodes: Mapping[str, Node] | None = plan.steps
    node: Node | None = None
    for part in path.split("/"):
        node = nodes.get(part) if nodes is not None else None
        if node is None:
            raise NotFoundError(f"plan '{plan.name}' has no step '{path}'", step=path)
        nodes = node_children(node)
    if node is None:
        raise NotFoundError(f"plan '{plan.name}' has no step '{path}'", step=path)
    return node
