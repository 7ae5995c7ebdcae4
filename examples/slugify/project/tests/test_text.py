import pytest

from textkit import normalize_whitespace, truncate_words


def test_normalize_whitespace_collapses_runs() -> None:
    assert normalize_whitespace("  a \t b\n\nc  ") == "a b c"


def test_truncate_words_keeps_short_text() -> None:
    assert truncate_words("one two", 5) == "one two"


def test_truncate_words_cuts_and_marks() -> None:
    assert truncate_words("one two three four", 2) == "one two…"


def test_truncate_words_rejects_negative() -> None:
    with pytest.raises(ValueError):
        truncate_words("text", -1)
