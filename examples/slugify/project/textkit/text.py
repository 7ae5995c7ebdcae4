"""Whitespace and length helpers."""

from __future__ import annotations


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace into one space and strip both ends."""
    return " ".join(text.split())


def truncate_words(text: str, max_words: int, suffix: str = "…") -> str:
    """Keep the first ``max_words`` words of ``text``; add ``suffix`` if words were cut."""
    if max_words < 0:
        raise ValueError("max_words must not be negative")
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[:max_words]) + suffix
