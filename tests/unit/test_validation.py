"""Checks on client text and JSON (core.validation): known answers, no database."""

import pytest

from core.validation import (
    control_character_problem,
    json_depth_exceeds,
    json_text_problems,
    name_key,
    name_normalised,
    name_problem,
)


@pytest.mark.parametrize(
    ("text", "max_depth", "exceeds"),
    [
        ("[[[]]]", 3, False),
        ("[[[[]]]]", 3, True),
        ('{"a": {"b": [1]}}', 3, False),
        ('{"a": {"b": [[1]]}}', 3, True),
        ('["[[[[[[", "]]]]"]', 1, False),  # brackets inside strings do not nest
        ('["\\"[[[[", [[]]]', 2, True),  # an escaped quote does not end the string
        ('["\\\\", [[[]]]]', 3, True),  # an escaped backslash does
        ("[" * 100_000 + "]" * 100_000, 32, True),
    ],
)
def test_json_depth_is_measured_outside_strings(text, max_depth, exceeds):
    assert json_depth_exceeds(text, max_depth) is exceeds
    assert json_depth_exceeds(text.encode(), max_depth) is exceeds


def test_json_text_problems_name_the_path_of_each_bad_string_and_number():
    data = {"note": "a\x00b", "labels": [{"name": "ok"}, {"name": "b\x1bc"}], "weight": float("inf"), "ok": "a\tb\n"}
    problems = json_text_problems(data)
    assert set(problems) == {"note", "labels.1.name", "weight"}
    assert "U+0000" in problems["note"]
    assert "U+001B" in problems["labels.1.name"]


@pytest.mark.parametrize(("text", "ok"), [("line\nbreak\ttab\r", True), ("nul\x00", False), ("del\x7f", False)])
def test_free_text_allows_only_tabs_and_line_breaks_among_controls(text, ok):
    assert (control_character_problem(text) is None) is ok


def test_decomposed_and_composed_names_share_one_key_in_any_case():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert name_normalised(decomposed) == composed
    assert name_key(composed) == name_key(decomposed.upper()) == name_key("CAF\u00c9")
    assert name_key("Stra\u00dfe") == name_key("STRASSE")


@pytest.mark.parametrize("char", ["\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\n", "\u2028", "\x00", "\ue000"])
def test_names_refuse_invisible_characters(char):
    assert name_problem(f"ca{char}t") is not None


def test_names_keep_letters_marks_and_symbols_of_any_script():
    for name in ("caf\u00e9", "\u732b", "\u0643\u0644\u0628", "n\u00b0 1 (x\u00b2)", "\U0001f431 cat"):
        assert name_problem(name_normalised(name)) is None
