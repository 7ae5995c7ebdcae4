"""The task-complexity analyzer (M4): task text → the features the router scores with.

:class:`TaskAnalyzer` reads a task's words and returns :class:`TaskFeatures`:

- ``task_type``: one of :data:`TASK_TYPES` — the type whose keywords the text
  matches most (the agent's role breaks ties and decides when nothing matches;
  ``chat`` otherwise);
- ``complexity``: 0..1 from length, structure (lists, code blocks, files named)
  and words that make work hard (concurrency, security, migration …) or easy
  (typo, rename …); ``level`` is ``low`` (< 0.35), ``medium`` or ``high`` (≥ 0.65);
- ``needs_tools``: whether the work touches files or runs things;
- ``context_tokens``: the size of the text in tokens (about 4 characters each),
  plus a system prompt allowance.

Results are cached per (text, role): the router asks about the same step's task
on every turn.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "COMPLEXITY_LEVELS",
    "ROLE_TASK_TYPES",
    "TASK_TYPES",
    "TaskAnalyzer",
    "TaskFeatures",
    "level_of",
]

#: The task types the router distinguishes, in the order the catalog's task fits use.
TASK_TYPES: tuple[str, ...] = ("code", "debug", "test", "review", "analysis", "docs", "chat")
COMPLEXITY_LEVELS: tuple[str, ...] = ("low", "medium", "high")

#: An agent role's usual task type: it breaks ties and decides when no keyword matches.
ROLE_TASK_TYPES: dict[str, str] = {
    "developer": "code",
    "coder": "code",
    "engineer": "code",
    "programmer": "code",
    "debugger": "debug",
    "tester": "test",
    "test_creator": "test",
    "qa": "test",
    "test_validator": "review",
    "validator": "review",
    "reviewer": "review",
    "critic": "review",
    "analyst": "analysis",
    "coordinator": "analysis",
    "architect": "analysis",
    "planner": "analysis",
    "orchestrator": "analysis",
    "writer": "docs",
    "documenter": "docs",
    "assistant": "chat",
}

_SYSTEM_ALLOWANCE = 400
_CHARS_PER_TOKEN = 4


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


_TYPE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "code",
        _words(
            r"implement\w*",
            r"function\w*",
            r"class(?:es)?",
            r"methods?",
            r"refactor\w*",
            r"endpoints?",
            r"apis?",
            r"code",
            r"script",
            r"module",
            r"library",
            r"cli",
            r"feature",
            r"program",
            r"build",
            r"add support",
        ),
    ),
    (
        "debug",
        _words(
            r"fix\w*",
            r"bugs?",
            r"errors?",
            r"exceptions?",
            r"traceback",
            r"crash\w*",
            r"fail\w*",
            r"broken",
            r"debug\w*",
            r"regressions?",
            r"stack trace",
            r"not working",
            r"doesn'?t work",
        ),
    ),
    (
        "test",
        _words(
            r"tests?",
            r"testing",
            r"pytest",
            r"unit tests?",
            r"test cases?",
            r"coverage",
            r"assert\w*",
            r"fixtures?",
            r"tdd",
        ),
    ),
    (
        "review",
        _words(
            r"review\w*",
            r"critique",
            r"audit\w*",
            r"inspect\w*",
            r"validat\w*",
            r"verif\w*",
            r"verdict",
            r"assess\w*",
            r"approve",
        ),
    ),
    (
        "analysis",
        _words(
            r"analy[sz]\w*",
            r"design\w*",
            r"plan\w*",
            r"architect\w*",
            r"requirements?",
            r"trade-?offs?",
            r"compare",
            r"evaluat\w*",
            r"investigat\w*",
            r"research",
            r"estimate",
            r"strateg\w*",
            r"specification",
            r"break (?:it )?down",
        ),
    ),
    (
        "docs",
        _words(
            r"document\w*",
            r"docs",
            r"readme",
            r"docstrings?",
            r"changelog",
            r"tutorial",
            r"guide",
            r"release notes",
        ),
    ),
    (
        "chat",
        _words(r"hi", r"hello", r"thanks", r"thank you", r"what is", r"who is", r"tell me"),
    ),
)

_HARD = _words(
    r"concurren\w*",
    r"threads?",
    r"async\w*",
    r"distributed",
    r"race conditions?",
    r"deadlocks?",
    r"algorithms?",
    r"optimi[sz]\w*",
    r"performance",
    r"security",
    r"crypt\w*",
    r"migrat\w*",
    r"architecture",
    r"parser",
    r"compiler",
    r"scal(?:e|ing|able)",
    r"protocol",
    r"transactions?",
    r"memory leaks?",
    r"end-to-end",
    r"integration",
    r"across (?:the )?(?:codebase|modules|files|services)",
    r"backward[s]? compatib\w*",
)
_EASY = _words(
    r"typos?",
    r"rename\w*",
    r"hello",
    r"simple",
    r"small",
    r"trivial",
    r"one-line\w*",
    r"quick",
    r"minor",
    r"tiny",
    r"print",
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_CODE_BLOCK = re.compile(r"```")
_FILE = re.compile(
    r"\b[\w./-]+\.(?:py|js|ts|tsx|go|rs|java|c|h|cpp|rb|md|yaml|yml|json|toml|sql)\b"
)
_TOOLISH = _words(
    r"files?",
    r"repo\w*",
    r"workspace",
    r"run",
    r"execute",
    r"edit",
    r"write",
    r"directory",
    r"scratchpads?",
)
_TOOL_TYPES = frozenset({"code", "debug", "test"})


def level_of(complexity: float) -> str:
    """``low`` below 0.35, ``high`` from 0.65, ``medium`` between."""
    if complexity < 0.35:
        return "low"
    return "medium" if complexity < 0.65 else "high"


class TaskFeatures:
    """What the router knows about a task. ``key`` identifies equal features (a cache key)."""

    __slots__ = (
        "complexity",
        "context_tokens",
        "key",
        "level",
        "needs_tools",
        "role_hint",
        "task_type",
        "type_scores",
    )

    def __init__(
        self,
        task_type: str,
        complexity: float,
        needs_tools: bool,
        context_tokens: int,
        *,
        type_scores: dict[str, float] | None = None,
        role_hint: str | None = None,
    ) -> None:
        if task_type not in TASK_TYPES:
            raise ValueError(f"unknown task type '{task_type}'; known: {', '.join(TASK_TYPES)}")
        self.task_type = task_type
        self.complexity = min(1.0, max(0.0, round(float(complexity), 2)))
        self.level = level_of(self.complexity)
        self.needs_tools = bool(needs_tools)
        self.context_tokens = max(0, int(context_tokens))
        self.type_scores = type_scores or {}
        self.role_hint = role_hint
        self.key = (self.task_type, self.complexity, self.needs_tools, self.context_tokens)

    def with_request(self, context_tokens: int, needs_tools: bool) -> TaskFeatures:
        """The same task as seen in a real request: its actual size and whether it offers tools."""
        if context_tokens == self.context_tokens and needs_tools == self.needs_tools:
            return self
        return TaskFeatures(
            self.task_type,
            self.complexity,
            needs_tools,
            context_tokens,
            type_scores=self.type_scores,
            role_hint=self.role_hint,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "task_type": self.task_type,
            "complexity": self.complexity,
            "level": self.level,
            "needs_tools": self.needs_tools,
            "context_tokens": self.context_tokens,
            "type_scores": dict(self.type_scores),
            "role_hint": self.role_hint,
        }

    def __repr__(self) -> str:
        return (
            f"TaskFeatures({self.task_type}, complexity={self.complexity}, tools="
            f"{self.needs_tools}, context={self.context_tokens})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskFeatures) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


class TaskAnalyzer:
    """Turns task text into :class:`TaskFeatures`; keeps up to ``cache_size`` results."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._cache: dict[tuple[str, str | None], TaskFeatures] = {}
        self._cache_size = cache_size

    def analyze(self, text: str, role: str | None = None) -> TaskFeatures:
        """The features of ``text`` for an agent of ``role`` (cached)."""
        key = (text, role)
        found = self._cache.get(key)
        if found is not None:
            return found
        features = analyze_text(text, role)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = features
        return features


def _type_of(text: str, role: str | None) -> tuple[str, dict[str, float], str | None]:
    scores = {name: float(len(pattern.findall(text))) for name, pattern in _TYPE_PATTERNS}
    if _CODE_BLOCK.search(text):
        scores["code"] += 1.0
    hint = ROLE_TASK_TYPES.get((role or "").lower())
    if hint is not None:
        scores[hint] += 0.5
    best = max(TASK_TYPES, key=lambda t: scores[t])
    if scores[best] <= 0:
        best = "chat"
    return best, {t: s for t, s in scores.items() if s}, hint


def _complexity(text: str) -> float:
    words = len(text.split())
    score = 0.35 * min(1.0, math.log1p(words) / math.log1p(400))
    score += min(0.45, 0.15 * len(_HARD.findall(text)))
    score += min(0.2, 0.04 * len(_LIST_ITEM.findall(text)))
    score += min(0.15, 0.03 * len(_FILE.findall(text)))
    if _CODE_BLOCK.search(text):
        score += 0.1
    score -= min(0.3, 0.15 * len(_EASY.findall(text)))
    return min(1.0, max(0.0, score))


def analyze_text(text: str, role: str | None = None) -> TaskFeatures:
    """The features of ``text`` (uncached; see :class:`TaskAnalyzer`)."""
    task_type, scores, hint = _type_of(text, role)
    needs_tools = (
        task_type in _TOOL_TYPES or bool(_FILE.search(text)) or bool(_TOOLISH.search(text))
    )
    tokens = _SYSTEM_ALLOWANCE + (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN
    return TaskFeatures(
        task_type, _complexity(text), needs_tools, tokens, type_scores=scores, role_hint=hint
    )
