"""Checks on text and numbers from clients, shared by the API's parsers and fields and by the pydantic schemas.

No Django here: the schemas import this too.
"""

import math
import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# What both databases store in a BIGINT (SQLite raises OverflowError beyond it, PostgreSQL a DataError).
DB_INT_MIN, DB_INT_MAX = -(2**63), 2**63 - 1
DbInt = Annotated[int, Field(ge=DB_INT_MIN, le=DB_INT_MAX)]
DbId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]

MAX_COLUMNS = 1000  # in one table (an import, a project's column lists)
MAX_COLUMN_NAME_CHARS = 255

# C0 controls (NUL included: PostgreSQL refuses it in text and jsonb), DEL and C1 controls. Tab, newline and
# carriage return are ordinary in free text (notes, instructions) and refused in names only.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_BREAKS = "\t\n\r\u2028\u2029"


def control_character_problem(text: str) -> str | None:
    """Why `text` cannot be stored as free text, or None when it can."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X}, which is not allowed"


def name_problem(name: str) -> str | None:
    """Why `name` (already NFC) cannot name a label, project or column, or None when it can: names must look like
    what they are, so controls, line breaks, zero-width and bidirectional-override characters are refused."""
    for char in name:
        if char in _LINE_BREAKS or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            kind = "line break" if char in _LINE_BREAKS else _INVISIBLE_KINDS.get(unicodedata.category(char), "")
            return f"contains the {kind or 'invisible'} character U+{ord(char):04X}, which is not allowed in names"
    return None


_INVISIBLE_KINDS = {"Cc": "control", "Cf": "invisible formatting", "Cs": "surrogate", "Co": "private-use"}


def name_normalised(name: str) -> str:
    """The form a name is stored and compared in: NFC (so a decomposed 'café' equals the composed one)."""
    return unicodedata.normalize("NFC", name)


def name_key(name: str) -> str:
    """What makes two names the same to a person: NFC, then case folded (then NFC again, as folding can
    decompose)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def _checked_text(value: str) -> str:
    problem = control_character_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _checked_name(value: str) -> str:
    value = name_normalised(value)
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_checked_text)]
"""Free text (notes, descriptions): any printable character, tabs and line breaks; no other controls."""


def DisplayName(max_length: int) -> type[str]:
    """A name people pick things by: stripped, NFC, 1..max_length characters, nothing invisible."""
    constraints = StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)
    return Annotated[str, constraints, AfterValidator(_checked_name)]  # type: ignore[return-value]


def json_depth_exceeds(text: str | bytes, max_depth: int) -> bool:
    """Whether JSON `text` nests arrays/objects deeper than `max_depth`, found by a scan of its brackets outside
    strings (no recursion, so any depth is measured safely before a parser sees it)."""
    raw = text.encode() if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # the common case: too few brackets to nest that deep
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(raw):
        symbol = token.group()
        if symbol in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif symbol in (b"]", b"}"):
            depth -= 1
    return False


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_text_problems(data: object, max_problems: int = 10) -> dict[str, str]:
    """{dotted path: problem} for strings (keys included) in parsed JSON that carry control characters, and for
    numbers too large to be finite (1e999 parses to infinity, which neither database's JSON stores)."""
    problems: dict[str, str] = {}
    stack: list[tuple[str, object]] = [("", data)]
    while stack and len(problems) < max_problems:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = control_character_problem(value)
            if problem:
                problems[path or "non_field_errors"] = problem
        elif isinstance(value, float) and not math.isfinite(value):
            problems[path or "non_field_errors"] = "is a number too large to store"
        elif isinstance(value, dict):
            for key, child in value.items():
                child_path = f"{path}.{key}" if path else str(key)
                key_problem = control_character_problem(str(key))
                if key_problem:
                    problems[child_path] = f"field name {key_problem}"
                stack.append((child_path, child))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(value))
    return problems
