"""Checking what a parsed plan means before it runs; every problem names its node.

``validate_plan`` returns all problems, ``ensure_valid`` raises them as one
:class:`~nexus.errors.PlanError`. The kinds of problem (``PlanProblem.kind``):

==================  ======================================================================
version             the plan's ``version`` is not one this Nexus reads
empty_plan          the plan, or a loop/parallel/sequence group, has no steps
bad_key             a step key or input name that expressions could not name (``a-b``)
duplicate_key       a step key used twice anywhere in the plan
unknown_need        ``needs`` names no step of its scope or of an enclosing scope
bad_need            ``needs`` names an enclosing group, or an outer step the group does not wait for
cycle               ``needs`` form a cycle (named: ``a → b → a``)
unknown_branch      a condition's ``then``/``else`` names no sibling step
unknown_tool        no handler for ``tool:`` (only when handlers are given)
bad_params          a tool's ``with`` does not fit the handler's parameter schema
unknown_agent       no such agent (only when agents are given)
bad_expression      a ``${{ … }}`` that does not compile
unknown_step_ref    an expression reads ``steps.X`` and there is no step X
unknown_input_ref   an expression reads ``inputs.X`` and the plan declares no input X
unknown_name        an expression starts from a name that is not in its scope (``input.x``)
bad_loop_max        a loop ``max`` that is not a positive integer or an expression
bad_default         a human node's ``default`` that is not one of its ``options``
bad_input           an input whose ``default`` does not have its declared type
bad_gate_rule       a gate rule with not exactly one of check/schema/regex/min_confidence/python
bad_regex           a gate regex that does not compile
bad_schema          a gate JSON schema that is not a valid schema
bad_rollback        ``rollback_to`` naming no step, or set while ``on_fail`` is ``fail``
==================  ======================================================================

Needs refer to keys of the same steps mapping; from inside a group they may also
name keys of enclosing scopes, provided the group waits for them (directly or
through its own needs), so they are done when the group starts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from nexus.domain.plan import (
    PLAN_SCHEMA_VERSION,
    AgentNode,
    ConditionNode,
    GateNode,
    GateRule,
    HumanNode,
    LoopNode,
    Node,
    Plan,
    ToolNode,
    node_children,
)
from nexus.engine import expressions
from nexus.engine.plan_loader import iter_nodes
from nexus.errors import PlanError, PlanProblem
from nexus.handlers.base import HandlerRegistry

__all__ = ["RULE_KINDS", "ensure_valid", "validate_plan"]

#: the fields of a gate rule of which exactly one must be set
RULE_KINDS: tuple[str, ...] = ("check", "schema", "regex", "min_confidence", "python")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PYTHON_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
# fields whose text is itself an expression when it holds no ${{ }} (they are tested with truthy)
_BARE_FIELDS = re.compile(r"if|condition|loop\.until|gate\[\d+\]\.check")
_CHILD_STEPS = {"loop": {"steps"}, "parallel": {"steps"}, "sequence": {"steps"}}


def validate_plan(
    plan: Plan,
    handlers: HandlerRegistry | None = None,
    agents: Collection[str] | None = None,
) -> list[PlanProblem]:
    """Every problem of a plan, in plan order; an empty list means it may run."""
    return _Validator(plan, handlers, agents).run()


def ensure_valid(
    plan: Plan,
    handlers: HandlerRegistry | None = None,
    agents: Collection[str] | None = None,
) -> None:
    """Raise one PlanError listing every problem, or return if there is none."""
    problems = validate_plan(plan, handlers, agents)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise PlanError(f"plan '{plan.name}' is invalid: {count}", problems)


@dataclass(frozen=True, slots=True)
class _Scope:
    """One steps mapping: the plan's, or a group's children."""

    path: str
    nodes: Mapping[str, Node]
    outer_done: frozenset[str]  # keys of enclosing scopes that are done before this scope runs
    outer_all: frozenset[str]  # every key of the enclosing scopes
    groups: tuple[str, ...]  # keys of the enclosing groups, outermost first

    def child_path(self, key: str) -> str:
        return f"{self.path}/{key}" if self.path else key


class _Validator:
    def __init__(
        self, plan: Plan, handlers: HandlerRegistry | None, agents: Collection[str] | None
    ) -> None:
        self.plan = plan
        self.handlers = handlers
        self.agents = None if agents is None else frozenset(agents)
        self.problems: list[PlanProblem] = []
        self.paths: dict[str, list[str]] = {}
        for path, _ in iter_nodes(plan):
            self.paths.setdefault(path.rsplit("/", 1)[-1], []).append(path)

    def add(self, node: str | None, kind: str, message: str) -> None:
        self.problems.append(PlanProblem(node, kind, message))

    def run(self) -> list[PlanProblem]:
        if self.plan.version != PLAN_SCHEMA_VERSION:
            self.add(
                None,
                "version",
                f"unsupported plan version {self.plan.version} "
                f"(this Nexus reads version {PLAN_SCHEMA_VERSION})",
            )
        self._check_inputs()
        if not self.plan.steps:
            self.add(None, "empty_plan", "the plan has no steps")
        self._check_keys()
        self._check_scope(_Scope("", self.plan.steps, frozenset(), frozenset(), ()))
        return self.problems

    # --- plan-wide ----------------------------------------------------------------------------

    def _check_inputs(self) -> None:
        for name, spec in self.plan.inputs.items():
            if not _NAME.fullmatch(name):
                self.add(None, "bad_input", f"input name '{name}' {_NAME_RULE}")
            if spec.default is not None and not _has_type(spec.default, spec.type):
                message = f"input '{name}': default {spec.default!r} is not of type {spec.type}"
                self.add(None, "bad_input", message)

    def _check_keys(self) -> None:
        for key, paths in self.paths.items():
            if not _NAME.fullmatch(key):
                self.add(paths[0], "bad_key", f"step key '{key}' {_NAME_RULE}")
            for path in paths[1:]:
                message = f"key '{key}' is also used by step '{paths[0]}'; keys must be unique"
                self.add(path, "duplicate_key", message)

    # --- one scope ----------------------------------------------------------------------------

    def _check_scope(self, scope: _Scope) -> None:
        graph = {
            key: [n for n in node.needs if n in scope.nodes] for key, node in scope.nodes.items()
        }
        for key, node in scope.nodes.items():
            path = scope.child_path(key)
            self._check_needs(scope, path, node)
            self._check_node(scope, path, node)
            children = node_children(node)
            if children is None:
                continue
            if not children:
                self.add(path, "empty_plan", f"the {node.kind} group has no steps")
            inner = _Scope(
                path=path,
                nodes=children,
                outer_done=scope.outer_done | _upstream(graph, key),
                outer_all=scope.outer_all | frozenset(scope.nodes),
                groups=(*scope.groups, key),
            )
            self._check_scope(inner)
        for cycle in _cycles(graph):
            arrows = " → ".join([*cycle, cycle[0]])
            self.add(scope.child_path(cycle[0]), "cycle", f"needs form a cycle: {arrows}")

    def _check_needs(self, scope: _Scope, path: str, node: Node) -> None:
        for need in node.needs:
            if need in scope.nodes or need in scope.outer_done:
                continue
            if need in scope.groups:
                message = (
                    f"needs '{need}', the group it is inside; a step cannot wait for its group"
                )
                self.add(path, "bad_need", message)
            elif need in scope.outer_all:
                group = scope.groups[-1]
                message = (
                    f"needs '{need}' from an enclosing scope, but group '{group}' does not wait "
                    f"for it; add '{need}' to the needs of '{group}'"
                )
                self.add(path, "bad_need", message)
            elif need in self.paths:
                inside = self.paths[need][0]
                message = (
                    f"needs '{need}', which is inside group '{inside.rsplit('/', 1)[0]}'; "
                    "depend on the group instead"
                )
                self.add(path, "unknown_need", message)
            else:
                known = [*scope.nodes, *scope.outer_done]
                self.add(
                    path, "unknown_need", f"needs unknown step '{need}'{_did_you_mean(need, known)}"
                )

    # --- one node -----------------------------------------------------------------------------

    def _check_node(self, scope: _Scope, path: str, node: Node) -> None:
        self._check_expressions(path, node)
        if isinstance(node, ToolNode):
            self._check_tool(path, node)
        elif isinstance(node, AgentNode):
            if self.agents is not None and node.agent not in self.agents:
                message = f"unknown agent '{node.agent}'{_did_you_mean(node.agent, self.agents)}"
                self.add(path, "unknown_agent", message)
        elif isinstance(node, GateNode):
            self._check_gate(path, node)
        elif isinstance(node, HumanNode):
            options = node.options
            if options is not None and node.default is not None and node.default not in options:
                listing = ", ".join(repr(o) for o in options)
                message = f"default {node.default!r} is not one of the options ({listing})"
                self.add(path, "bad_default", message)
        elif isinstance(node, ConditionNode):
            for field, keys in (("then", node.then), ("else", node.else_)):
                for key in keys:
                    if key not in scope.nodes or key == node.key:
                        message = f"'{field}' names '{key}', which is not a sibling step"
                        self.add(path, "unknown_branch", message)
        elif isinstance(node, LoopNode):
            limit = node.loop.max
            if isinstance(limit, int) and limit < 1:
                self.add(path, "bad_loop_max", f"loop max must be at least 1 (got {limit})")
            elif isinstance(limit, str) and not expressions.has_expression(limit):
                wanted = "a positive integer or a ${{ }} expression"
                message = f"loop max must be {wanted} (got {limit!r})"
                self.add(path, "bad_loop_max", message)

    def _check_tool(self, path: str, node: ToolNode) -> None:
        if self.handlers is None:
            return
        handler = self.handlers.find("tool", node.tool)
        if handler is None:
            known = self.handlers.names()
            listing = f" (known: {', '.join(sorted(known))})" if known else ""
            self.add(path, "unknown_tool", f"unknown tool '{node.tool}'{listing}")
            return
        try:
            validator = jsonschema.validators.validator_for(handler.params_schema)(
                handler.params_schema
            )
            errors = sorted(validator.iter_errors(node.with_), key=lambda e: list(e.absolute_path))
        except SchemaError as exc:
            message = f"tool '{node.tool}' has an invalid parameter schema: {exc.message}"
            self.add(path, "bad_params", message)
            return
        for error in errors:
            if isinstance(error.instance, str) and expressions.has_expression(error.instance):
                continue  # known only when the step runs
            where = _field_name("with", error.absolute_path)
            self.add(path, "bad_params", f"field '{where}': {error.message}")

    def _check_gate(self, path: str, node: GateNode) -> None:
        if not node.gate:
            self.add(path, "bad_gate_rule", "a gate needs at least one rule")
        for number, rule in enumerate(node.gate, start=1):
            for kind, message in _rule_problems(rule):
                self.add(path, kind, f"gate rule {number}: {message}")
        if node.rollback_to is not None:
            if node.rollback_to not in self.paths:
                message = f"rollback_to names unknown step '{node.rollback_to}'"
                self.add(path, "bad_rollback", message)
            elif node.on_fail != "rollback":
                message = "rollback_to is set but on_fail is 'fail'; write on_fail: rollback"
                self.add(path, "bad_rollback", message)

    def _check_expressions(self, path: str, node: Node) -> None:
        exclude: dict[str, Any] = {"kind": True, "key": True, "needs": True}
        if node.kind in _CHILD_STEPS:
            exclude[node.kind] = _CHILD_STEPS[node.kind]
        data = node.model_dump(by_alias=True, exclude=exclude)
        if isinstance(node, GateNode):  # a rule's regex, schema and python are not rendered
            data["gate"] = [{"check": r.check, "value": r.value} for r in node.gate]
        for field, text in _strings(data, ""):
            if not expressions.has_expression(text) and not _BARE_FIELDS.fullmatch(field):
                continue
            bare = bool(_BARE_FIELDS.fullmatch(field))
            errors = expressions.check_syntax(text, bare=bare)
            for error in errors:
                self.add(path, "bad_expression", f"field '{field}': {error}")
            self._check_references(path, field, text, bare)

    def _check_references(self, path: str, field: str, text: str, bare: bool) -> None:
        for root, name in sorted(expressions.references(text, bare=bare)):
            if root == "steps" and name not in self.paths:
                message = (
                    f"field '{field}' reads steps.{name}, but there is no step '{name}'"
                    f"{_did_you_mean(name, self.paths)}"
                )
                self.add(path, "unknown_step_ref", message)
            elif root == "inputs" and name not in self.plan.inputs:
                message = (
                    f"field '{field}' reads inputs.{name}, but the plan declares no input '{name}'"
                    f"{_did_you_mean(name, self.plan.inputs)}"
                )
                self.add(path, "unknown_input_ref", message)
        allowed = expressions.SCOPE_ROOTS | expressions.known_globals()
        for name in sorted(expressions.root_names(text, bare=bare) - allowed):
            known = ", ".join(sorted(expressions.SCOPE_ROOTS))
            message = (
                f"field '{field}' uses unknown name '{name}'"
                f"{_did_you_mean(name, expressions.SCOPE_ROOTS)} (known: {known})"
            )
            self.add(path, "unknown_name", message)


_NAME_RULE = "must start with a letter or _ and hold only letters, digits and _"


def _rule_problems(rule: GateRule) -> Iterator[tuple[str, str]]:
    present = [
        kind
        for kind, value in zip(
            RULE_KINDS,
            (rule.check, rule.schema_, rule.regex, rule.min_confidence, rule.python),
            strict=True,
        )
        if value is not None
    ]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        yield "bad_gate_rule", f"needs exactly one of {', '.join(RULE_KINDS)} (found: {found})"
        return
    kind = present[0]
    if kind in ("schema", "regex", "min_confidence") and rule.value is None:
        example = "steps.x.confidence" if kind == "min_confidence" else "steps.x.output"
        yield "bad_gate_rule", f"a {kind} rule needs a 'value', e.g. ${{{{ {example} }}}}"
    if rule.regex is not None:
        try:
            re.compile(rule.regex)
        except re.error as exc:
            yield "bad_regex", f"regex {rule.regex!r} does not compile: {exc}"
    if rule.schema_ is not None:
        try:
            jsonschema.validators.validator_for(rule.schema_).check_schema(rule.schema_)
        except SchemaError as exc:
            where = _field_name("schema", exc.absolute_path)
            yield "bad_schema", f"invalid JSON schema at '{where}': {exc.message}"
    if rule.python is not None and not _PYTHON_REF.fullmatch(rule.python):
        yield "bad_gate_rule", f"python must be written 'module:function' (got {rule.python!r})"


def _strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """Every string inside a dumped node with its field path (``with.args[0]``)."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{field}.{key}" if field else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{field}[{index}]")


def _field_name(root: str, parts: Sequence[Any]) -> str:
    name = root
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _has_type(value: Any, type_name: str) -> bool:
    return jsonschema.Draft202012Validator({"type": type_name}).is_valid(value)


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _upstream(graph: Mapping[str, Sequence[str]], key: str) -> frozenset[str]:
    """Every sibling a step waits for, directly or through the needs of its needs."""
    seen: set[str] = set()
    todo = list(graph.get(key, ()))
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo.extend(graph.get(need, ()))
    return frozenset(seen)


def _cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of steps (Tarjan, iterative), in plan order."""
    order = {key: i for i, key in enumerate(graph)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        while work:
            key, needs = work[-1]
            for need in needs:
                if need not in index:
                    index[need] = low[need] = len(index)
                    stack.append(need)
                    on_stack.add(need)
                    work.append((need, iter(graph[need])))
                    break
                if need in on_stack:
                    low[key] = min(low[key], index[need])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[key])
                if low[key] == index[key]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == key:
                            break
                    if len(component) > 1 or key in graph[key]:
                        components.append(component)
    cycles = [_cycle_in(graph, set(c), min(c, key=order.__getitem__)) for c in components]
    return sorted(cycles, key=lambda c: order[c[0]])


def _cycle_in(graph: Mapping[str, Sequence[str]], members: set[str], start: str) -> list[str]:
    """The shortest cycle through ``start`` inside one strongly connected group."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for key in frontier:
            for need in graph[key]:
                if need == start:
                    cycle = [key]
                    while cycle[-1] != start:
                        cycle.append(came_from[cycle[-1]])
                    return cycle[::-1]
                if need in members and need not in came_from:
                    came_from[need] = key
                    following.append(need)
        frontier = following
    return [start]  # unreachable for a strongly connected group
