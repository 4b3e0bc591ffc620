"""The documentation holds together: the README is the front door and links every user guide, and no link in
the docs points at a file that is not there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [
    "docs/labeling.md",
    "docs/projects-and-imports.md",
    "docs/exports.md",
    "docs/active-learning.md",
    "docs/configuration.md",
    "docs/deployment.md",
    "docs/api.md",
]
DOCS = ["README.md", "CONTRIBUTING.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


def _links(markdown: str) -> list[str]:
    """Relative link targets of a Markdown text, without their #anchor."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t) and t.split("#", 1)[0]]


def test_the_readme_is_a_short_front_door_that_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    assert set(GUIDES) | {"CONTRIBUTING.md"} <= set(_links(readme))


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_of_a_doc_points_at_a_file(doc):
    path = ROOT / doc
    missing = [target for target in _links(path.read_text()) if not (path.parent / target).exists()]
    assert missing == []


def test_the_check_finds_relative_links_only():
    assert _links("[a](docs/a.md#x) [b](https://x.org) [c](#top) ![d](img.png)") == ["docs/a.md", "img.png"]
