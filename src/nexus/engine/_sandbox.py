"""The Jinja2 sandbox that ``${{ … }}`` expressions run in (see :mod:`nexus.engine.expressions`).

Jinja's immutable sandbox refuses private and internal attributes and methods
that change lists, dicts and sets. On top of it this one

- looks up mapping keys before attributes (``output.items`` is the key ``items``)
  and lets a missing value chain (:class:`Missing`);
- raises at once on an unsafe attribute instead of returning an undefined value;
- refuses ``str.format`` and bounds what ``*``, ``**``, ``%``, padding and
  ``replace`` may build (:data:`MAX_SIZE` items, 4096-bit integers);
- drops the filters and globals that can build unbounded output or are not
  repeatable (``center``, ``indent``, ``format``, ``batch``, ``slice``,
  ``random``, ``wordwrap``, ``lipsum``, ``cycler``, ``joiner``, ``namespace``);
- adds ``fromjson``, a plain ``tojson`` (no HTML escaping) and the tests
  ``contains`` and ``none`` (which a missing value passes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, Undefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["ENV", "GLOBALS", "MAX_SIZE", "Missing", "clean"]

#: the largest string or list (characters or items) an operator may build
MAX_SIZE = 1_000_000
#: the largest integer (in bits) ``**`` may build
_MAX_INT_BITS = 4096
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_SIZED_STR_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class Missing(ChainableUndefined):
    """A value that is not there: chains (``a.b.c``), equals None, orders as False."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, Undefined)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return id(type(self))

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        return False

    __le__ = __gt__ = __ge__ = __lt__  # type: ignore[assignment]


def _refuse_format(*args: Any, **kwargs: Any) -> str:
    raise SecurityError("str.format is not available in expressions; join strings with ~")


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise SecurityError(f"{what} would build {size:,} items; the limit is {MAX_SIZE:,}")


def _safe_replace(s: Any, old: Any, new: Any, count: Any = None) -> str:
    text, old_s, new_s = str(s), str(old), str(new)
    hits = text.count(old_s) if old_s else len(text) + 1
    if count is not None:
        hits = min(hits, int(count))
    _check_size(len(text) + hits * max(len(new_s) - len(old_s), 0), "replace")
    return text.replace(old_s, new_s, -1 if count is None else int(count))


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made data-first and size-bounded."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Missing):
            return obj  # a.b.c on a missing a stays missing
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except KeyError:
                if not hasattr(type(obj), attribute):
                    return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} is unsafe"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if super().wrap_str_format(value) is None:
            return None
        return _refuse_format

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * times, "repetition")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                bits = max(abs(left).bit_length(), 1) * right
                if bits > _MAX_INT_BITS:
                    raise SecurityError(f"power would build a {bits:,}-bit integer")
        elif operator == "%" and isinstance(left, str):
            for spec in _PERCENT_SPEC.finditer(left):
                for number in spec.groups():
                    if number == "*" or (number is not None and int(number) > 1000):
                        raise SecurityError(f"format width {number} is not allowed")
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _SIZED_STR_METHODS and args and isinstance(args[0], int):
                _check_size(args[0], f"str.{name}")
            elif name == "expandtabs":
                _check_size(len(owner) * (int(args[0]) if args else 8), "str.expandtabs")
            elif name == "replace" and len(args) >= 2:
                return _safe_replace(owner, *args[:3])
        return super().call(__context, __obj, *args, **kwargs)


def _tojson(value: Any, indent: int | None = None) -> str:
    if indent is not None and not 0 <= indent <= 16:
        raise SecurityError("tojson indent must be between 0 and 16")
    return json.dumps(clean(value), ensure_ascii=False, default=str, indent=indent)


def _fromjson(value: Any) -> Any:
    return json.loads(str(value))


def _test_contains(container: Any, item: Any) -> bool:
    if container is None or isinstance(container, Undefined):
        return False
    try:
        return item in container
    except TypeError:
        return False


def _test_none(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def _make_env() -> _Sandbox:
    env = _Sandbox(undefined=Missing, autoescape=False, cache_size=0)
    for name in ("lipsum", "cycler", "joiner", "namespace"):
        env.globals.pop(name, None)
    # filters that can build unbounded output from a small input, or are not repeatable
    for name in ("center", "indent", "format", "batch", "slice", "random", "wordwrap"):
        env.filters.pop(name, None)
    env.filters["replace"] = _safe_replace
    env.filters["tojson"] = _tojson
    env.filters["fromjson"] = _fromjson
    env.tests["contains"] = _test_contains
    env.tests["none"] = _test_none
    return env


#: the one sandbox every expression is compiled in
ENV = _make_env()
#: its globals as a plain dict, to build a context without copying a ChainMap
GLOBALS: dict[str, Any] = dict(ENV.globals)


def clean(value: Any) -> Any:
    """Make a result plain data: Missing → None, lazy iterators and views → lists."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean(v) for v in value)
    if isinstance(value, (Iterator, range)) or type(value).__name__.startswith("dict_"):
        return [clean(v) for v in value]
    return value
