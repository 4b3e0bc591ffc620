"""The engine (active_learning.core) is pure: every module in it imports without Django."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import active_learning.core

REPO = Path(__file__).resolve().parents[3]
CORE_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(active_learning.core.__path__, prefix="active_learning.core.")
)


def test_core_package_holds_the_engine_modules():
    assert {"active_learning.core.ranking", "active_learning.core.selector", "active_learning.core.registry"} <= set(
        CORE_MODULES
    )


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_without_django(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"{module} pulls in Django: {out.stdout.strip()}"
