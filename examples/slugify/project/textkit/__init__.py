"""textkit: small helpers for cleaning up text."""

from textkit.text import normalize_whitespace, truncate_words

__all__ = ["normalize_whitespace", "truncate_words"]
