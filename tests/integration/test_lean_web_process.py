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


PREVIEW = """
import sys
import django
django.setup()
from annotation.io import importers
from annotation.models import Project

class Upload:
    name = "t.csv"
    def read(self):
        return (
            b"id,x,n,flag,day,label\\n"
            b"r1,1.5,1,yes,2024-01-02,a\\n"
            b"r2,NA,12345678901234567890,no,,b\\n"
            b"r3,2.25,3,NA,2024-02-29,a\\n"
        )

shown = importers.table_preview(project=Project(columns=[]), upload=Upload(), options={})
assert shown["row_count"] == 3 and shown["error_count"] == 0, shown
kinds = [c["type"] for c in shown["columns"]]
assert kinds == ["text", "numeric", "numeric", "boolean", "datetime", "categorical"], shown
print(" ".join(sorted(m for m in ("pandas", "pyarrow") if m in sys.modules)))
"""


def test_a_table_preview_reads_with_pyarrow_without_loading_pandas(tmp_path):
    """pandas took about half of a preview's first call in a process."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "loupe.settings", "LOUPE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", PREVIEW], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pyarrow"
