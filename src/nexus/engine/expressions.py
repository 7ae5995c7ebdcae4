"""The sandboxed evaluator of ``${{ … }}`` expressions in plans.

Expressions come from the users of a shared server, so they are never given to
``eval``: they are Jinja2 expressions compiled in an immutable sandbox. The
scope the engine hands in looks like::

    {"inputs": {...},
     "steps": {key: {"output": ..., "status": "succeeded", "confidence": 0.8}},
     "loop": {"iteration": 2},
     "run": {"id": ..., "correlation_id": ...}}

- ``render(value, scope)`` resolves every template string inside a value. A
  string that is exactly one ``${{ expr }}`` becomes the expression's native
  value; text around expressions makes a string (dicts and lists as JSON,
  booleans as ``true``/``false``, nothing as the empty string).
- ``evaluate(expr, scope)`` takes ``"${{ x }}"`` or a bare ``"x"``;
  ``truthy(expr, scope)`` is its truth value.
- A missing key is *missing*, not an error: ``steps.x.output.failed == 0`` on a
  skipped step is False, ``steps.x.output`` is None, and ``a.b.c`` chains.
  Ordering comparisons with a missing value are False; arithmetic on one raises.
- A literal ``${{`` is written ``${{ '${{' }}`` (as in a prompt about CI workflows).
- Keys of a mapping win over its methods: ``output.items`` is the key ``items``.
- Syntax errors, forbidden attributes (``__class__``, ``list.append`` …) and
  failures while evaluating raise :class:`~nexus.errors.ExpressionError` naming
  the expression.
- The sandbox bounds the size of what an expression can build (strings and
  lists from ``*``, ``%`` and padding, integers from ``**``) so that one cannot
  exhaust the server's memory; ``range`` is capped at 100,000 items.

Compiled expressions are cached by their text, so evaluating the same
expression again costs a dictionary look-up plus the evaluation itself.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Template, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.runtime import Context

from nexus.engine._sandbox import ENV, GLOBALS, MAX_SIZE, clean
from nexus.errors import ExpressionError

__all__ = [
    "MAX_SIZE",
    "SCOPE_ROOTS",
    "check_syntax",
    "evaluate",
    "has_expression",
    "known_globals",
    "references",
    "render",
    "root_names",
    "truthy",
]

#: the names an expression may start from (besides the functions ``range`` and ``dict``)
SCOPE_ROOTS: frozenset[str] = frozenset({"inputs", "steps", "loop", "run"})
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_OPEN = "${{"


def has_expression(text: str) -> bool:
    """Whether a string holds a ``${{`` template."""
    return _OPEN in text


# --- compiling --------------------------------------------------------------------------------

# nodes whose result may hold Missing values or lazy iterators that must be made plain
_BUILDERS = (nodes.List, nodes.Dict, nodes.Tuple, nodes.Filter, nodes.Call, nodes.CondExpr)


@dataclass(frozen=True, slots=True)
class _Compiled:
    source: str
    template: Template
    clean: bool
    #: for a plain path (``steps.x.output.reply``, ``inputs['task']``): its root name and keys
    path: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A template string cut into literal text and compiled expressions."""

    parts: tuple[str | _Compiled, ...]
    single: _Compiled | None


def _parse_expression(source: str) -> nodes.Expr:
    """A fresh syntax tree of one bare expression; raises ExpressionError naming it."""
    if not source:
        raise ExpressionError("empty expression '${{ }}'", expression=source)
    try:
        parser = Parser(ENV, source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            token = parser.stream.current
            raise TemplateSyntaxError(f"unexpected '{token.value}' after the expression", 1)
        for node in _walk(tree):
            if isinstance(node, nodes.Filter) and node.name not in ENV.filters:
                raise TemplateSyntaxError(f"no filter named '{node.name}'", 1)
            if isinstance(node, nodes.Test) and node.name not in ENV.tests:
                raise TemplateSyntaxError(f"no test named '{node.name}'", 1)
    except TemplateError as exc:
        raise ExpressionError(
            f"expression '{source}' is not valid: {_syntax_message(exc)}", expression=source
        ) from None
    return tree


@lru_cache(maxsize=4096)
def _syntax_tree(source: str) -> nodes.Expr:
    """The cached syntax tree used to inspect an expression (never compiled, never changed)."""
    return _parse_expression(source)


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Compiled:
    """Compile one bare expression to Python; raises ExpressionError naming it."""
    tree = _parse_expression(source)
    clean = any(isinstance(node, _BUILDERS) for node in _walk(tree))
    tree.set_environment(ENV)
    body = [nodes.Assign(nodes.Name("result", "store"), tree, lineno=1)]
    try:
        template = ENV.from_string(nodes.Template(body, lineno=1))
    except TemplateError as exc:
        raise ExpressionError(
            f"expression '{source}' is not valid: {_syntax_message(exc)}", expression=source
        ) from None
    return _Compiled(source, template, clean, _path_of(tree))


def _path_of(tree: nodes.Expr) -> tuple[str, tuple[str, ...]] | None:
    """(root, keys) when the expression is a name followed by ``.key`` / ``['key']`` only."""
    keys: list[str] = []
    node: nodes.Node = tree
    while True:
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            keys.append(node.arg.value)
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            return node.name, tuple(reversed(keys))
        else:
            return None
        node = node.node


@lru_cache(maxsize=4096)
def _parse(text: str) -> _Parsed:
    """Cut a template string into parts; raises ExpressionError on a bad or unclosed one."""
    parts: list[str | _Compiled] = []
    last = 0
    for match in _EXPR.finditer(text):
        if match.start() > last:
            parts.append(text[last : match.start()])
        parts.append(_compile(match.group(1).strip()))
        last = match.end()
    if last < len(text):
        parts.append(text[last:])
    for part in parts:
        if isinstance(part, str) and _OPEN in part:
            raise ExpressionError(f"unclosed '${{{{' in {_shorten(text)!r}", expression=text)
    compiled = [p for p in parts if isinstance(p, _Compiled)]
    single = None
    if len(compiled) == 1 and all(isinstance(p, _Compiled) or not p.strip() for p in parts):
        single = compiled[0]
    return _Parsed(tuple(parts), single)


def _syntax_message(exc: TemplateError) -> str:
    return (exc.message or str(exc)).replace("end of template", "end of expression")


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """The tree's root and all nodes below it."""
    yield tree
    yield from tree.find_all(nodes.Node)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- evaluating -------------------------------------------------------------------------------


_ABSENT = object()
#: containers whose ``[key]`` the sandbox would use as is: a path through them needs no Jinja
_PLAIN_MAPPINGS = (dict, ChainMap)


def _follow(path: tuple[str, tuple[str, ...]], scope: Mapping[str, Any]) -> Any:
    """The value at a plain path when every step of it is a key of a plain dict (or the
    engine's ChainMap of steps), which is what the sandbox would return; else _ABSENT
    (a missing key, another type: Jinja decides)."""
    value = scope.get(path[0], _ABSENT)
    if value is _ABSENT:
        return _ABSENT
    for key in path[1]:
        if type(value) not in _PLAIN_MAPPINGS:
            return _ABSENT
        try:
            value = value[key]
        except KeyError:
            return _ABSENT
    return None if isinstance(value, Undefined) else value


def _run(compiled: _Compiled, scope: Mapping[str, Any]) -> Any:
    if compiled.path is not None:
        value = _follow(compiled.path, scope)
        if value is not _ABSENT:
            return value
    # a bare Context over a flat dict: Template.new_context would copy a ChainMap of globals
    context = Context(ENV, {**GLOBALS, **scope}, None, {})
    try:
        for _ in compiled.template.root_render_func(context):
            pass
    except Exception as exc:
        kind = "is not allowed" if isinstance(exc, SecurityError) else "failed"
        detail = exc.message if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
        raise ExpressionError(
            f"expression '{compiled.source}' {kind}: {detail}", expression=compiled.source
        ) from None
    result = context.vars["result"]
    if isinstance(result, Undefined):
        return None
    if compiled.clean:
        return clean(result)
    return result


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _render_str(text: str, scope: Mapping[str, Any]) -> Any:
    parsed = _parse(text)
    if parsed.single is not None:
        return _run(parsed.single, scope)
    return "".join(
        part if isinstance(part, str) else _to_text(_run(part, scope)) for part in parsed.parts
    )


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Resolve every ``${{ … }}`` in a value (strings, dicts, lists, tuples, recursively)."""
    if isinstance(value, str):
        if _OPEN not in value:
            return value
        return _render_str(value, scope)
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, tuple):
        return tuple(render(v, scope) for v in value)
    return value


def evaluate(expr: str, scope: Mapping[str, Any]) -> Any:
    """The value of one expression, written ``"${{ x }}"`` or bare ``"x"``."""
    if _OPEN in expr:
        return _render_str(expr, scope)
    return _run(_compile(expr.strip()), scope)


def truthy(expr: str | bool | None, scope: Mapping[str, Any]) -> bool:
    """Whether an expression holds; a missing value is False, a bool is itself."""
    if expr is None or isinstance(expr, bool):
        return bool(expr)
    return bool(evaluate(expr, scope))


# --- inspecting -------------------------------------------------------------------------------


def _expressions(text: str, bare: bool) -> list[str]:
    if bare and _OPEN not in text:
        return [text.strip()]
    return [m.group(1).strip() for m in _EXPR.finditer(text)]


def check_syntax(text: str, *, bare: bool = False) -> list[str]:
    """Messages for every expression in ``text`` that does not compile (empty when all do).

    With ``bare=True`` a string without ``${{`` is itself one expression (as in ``if:``).
    """
    problems: list[str] = []
    for source in _expressions(text, bare):
        try:
            _syntax_tree(source)
        except ExpressionError as exc:
            problems.append(exc.message)
    if _OPEN in _EXPR.sub("", text):
        problems.append(f"unclosed '${{{{' in {_shorten(text)!r}")
    return problems


def _trees(text: str, bare: bool) -> Iterator[nodes.Expr]:
    for source in _expressions(text, bare):
        try:
            yield _syntax_tree(source)
        except ExpressionError:
            continue


def references(text: str, *, bare: bool = False) -> set[tuple[str, str]]:
    """The ``(root, name)`` pairs the expressions in ``text`` read, e.g. ``("steps", "x")``.

    Both ``steps.x`` and ``steps['x']`` count; expressions that do not compile are skipped.
    """
    found: set[tuple[str, str]] = set()
    for tree in _trees(text, bare):
        for node in _walk(tree):
            if not isinstance(node, (nodes.Getattr, nodes.Getitem)):
                continue
            if not isinstance(node.node, nodes.Name):
                continue
            if isinstance(node, nodes.Getattr):
                found.add((node.node.name, node.attr))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add((node.node.name, node.arg.value))
    return found


def root_names(text: str, *, bare: bool = False) -> set[str]:
    """Every variable name the expressions in ``text`` start from (``steps``, ``inputs`` …)."""
    names: set[str] = set()
    for tree in _trees(text, bare):
        names.update(n.name for n in _walk(tree) if isinstance(n, nodes.Name) and n.ctx == "load")
    return names


def known_globals() -> frozenset[str]:
    """Names of the functions an expression may call without a scope (``range``, ``dict``)."""
    return frozenset(ENV.globals)
