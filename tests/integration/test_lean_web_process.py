import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What only workers need (training, ranking, statistics, table files): a web process that loads them holds
# ~150 MB more per gunicorn process.
WORKER_ONLY = ("torch", "sklearn", "pandas", "pyarrow", "matplotlib", "statsmodels", "cleanlab")
VIEW_MODULES = (
    "annotation.api.views",
    "annotation.api.io",
    "annotation.api.labeling",
    "annotation.api.insights",
    "active_learning.api.views",
    "core.api.views",
    "frontend.views",
    "frontend.wizard",
    "frontend.insights",
)
CODE = f"""
import importlib, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # the whole URLconf, as a web process's first request loads it
for name in {VIEW_MODULES!r}:
    importlib.import_module(name)
print(" ".join(sorted(m for m in {WORKER_ONLY!r} if m in sys.modules)))
"""


def test_web_process_imports_no_worker_only_library_after_loading_every_view(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "loupe.settings", "LOUPE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded at web start: {result.stdout.strip()}"
