"""Fail when code comments or user docs cite what their readers cannot follow: issue numbers, commit hashes, seed
ranges of past experiments. Say what the code does and why, or cite a measurement; the history of experiments
belongs in docs/dev-notes.md, the one file this check leaves alone.

Python is checked in its comments and strings, JavaScript in its comments, everything else (Markdown, templates,
shell, configuration) in full. Run: `python scripts/check_wording.py [files...]` (default: every tracked file).
"""

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The history of experiments, and the check itself with its tests (they spell out what it catches).
EXEMPT = {"docs/dev-notes.md", "scripts/check_wording.py", "tests/unit/test_repository_checks.py"}
CHECKED_SUFFIXES = {".py", ".md", ".html", ".js", ".sh", ".toml", ".cfg", ".yaml", ".yml", ".txt", ""}
PATTERNS = {
    # a hash sign and one to four digits standing alone; not a colour ("#333", "color:#fff"), an anchor ("page.html#3")
    # or a CSS id.
    "an issue number": re.compile(r"(?<![\w&/#\"':=.-])#\d{1,4}\b(?![\w-])"),
    # "issue", "issues"; but "label issues" are a feature (confident learning) and keep their name, in prose and
    # as identifiers ("issues-title", "issues"), and Django's checks report "no issues".
    "an issue reference": re.compile(
        r"(?<![Ll]abel )(?<![Ll]abel[-_])(?<![\"'#=-])(?<!no )\b[Ii]ssues?\b(?![-\"_)\w])"
    ),
    # "seeds 400-439", "design seeds (1000-1199)", "seeds 0..9", with a hyphen, an en dash or two dots.
    "a seed range": re.compile(r"\bseeds?\b[^\n]{0,25}?\b\d+\s*(?:[\u2013-]|\.\.)\s*\d+\b"),
    # "a741aaa", "3c738f65846e8d9b": hex with a digit and a letter, 7 to 40 characters, standing alone.
    "a commit hash": re.compile(r"(?<![\w#:=/.-])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b(?![\w-])"),
}


def python_prose(text: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and string in Python source."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING) or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            found += [(token.start[0] + i, line) for i, line in enumerate(token.string.splitlines())]
    return found


def javascript_prose(text: str) -> list[tuple[int, str]]:
    """(line, text) of the comments in JavaScript ("//" to the end of a line, "/* ... */")."""
    found = []
    for match in re.finditer(r"//[^\n]*|/\*.*?\*/", text, re.S):
        first = text.count("\n", 0, match.start()) + 1
        found += [(first + i, line) for i, line in enumerate(match.group().splitlines())]
    return found


def prose(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(errors="replace")
    if path.suffix == ".py":
        return python_prose(text)
    if path.suffix == ".js":
        return javascript_prose(text)
    return list(enumerate(text.splitlines(), start=1))


def problems(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        relative = path.relative_to(ROOT).as_posix()
        if relative in EXEMPT or path.suffix not in CHECKED_SUFFIXES or "/migrations/" in relative:
            continue
        if path.name.endswith(".lock") or not path.is_file():
            continue
        for number, line in prose(path):
            for what, pattern in PATTERNS.items():
                if match := pattern.search(line):
                    found.append(f"{relative}:{number}: {what} ({match.group()!r}): {line.strip()[:100]}")
    return found


def main(argv: list[str]) -> int:
    if argv:
        paths = [(ROOT / name).resolve() for name in argv]
    else:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / name for name in tracked.splitlines()]
    found = problems(paths)
    print("\n".join(found) or "no issue numbers, issue references, seed ranges or commit hashes")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
