"""The repository's own checks (scripts/check_*.py), run in `make test` before the tests: what they catch, and
what they leave alone."""

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wording = _load("check_wording")
imports = _load("check_imports")


def _flagged(line: str) -> list[str]:
    return [what for what, pattern in wording.PATTERNS.items() if pattern.search(line)]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("# absent from archives written before #6", "an issue number"),
        ("See issue 21 for the plan.", "an issue reference"),
        ("The issue's targets are met.", "an issue reference"),
        ("reported on seeds 400-439", "a seed range"),
        ("chosen on design seeds (1000\u20131199)", "a seed range"),
        ("chosen on seeds 0..9 and 100..109", "a seed range"),
        ("code at a741aaa", "a commit hash"),
    ],
)
def test_the_wording_check_flags_what_readers_cannot_follow(line, what):
    assert _flagged(line) == [what]


@pytest.mark.parametrize(
    "line",
    [
        '{ color: "#333", background: "#20242c" }',
        'const box = document.getElementById("issues");',
        "Possible label issues, worst first (label-issues)",
        "System check identified no issues",
        "sha256 of the file: " + "9362660c4a31150cf18e78cae2ce8aa1" * 2,
        "random_state=0 for 5 seeds, in batches of 10",
        "round(share * batch_size)",
    ],
)
def test_the_wording_check_leaves_product_words_and_colours_alone(line):
    assert _flagged(line) == []


def test_the_wording_check_reads_python_comments_and_strings_not_names():
    source = 'issues = find_label_issues(codes)  # the issue: #6\nlabel = "see #7"\n'
    assert [line for _, line in wording.python_prose(source)] == ["# the issue: #6", '"see #7"']


def test_a_requirements_file_declares_what_it_includes(tmp_path, monkeypatch):
    (tmp_path / "base.txt").write_text("# runtime\nDjango==5.2.19\npsycopg[binary]==3.3.9\n")
    (tmp_path / "extra.txt").write_text("-r base.txt\nfactory_boy==3.3.3  # tests\n")
    monkeypatch.setattr(imports, "ROOT", tmp_path)
    assert imports.declared("extra.txt") == {"django", "psycopg", "factory-boy"}
