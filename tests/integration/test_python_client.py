"""The Python client in client/: it installs, every endpoint it calls is in the server's OpenAPI schema, and the
complete example of docs/integrations.md runs against a live server with a real worker."""

import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import client_for
from tests.integration.test_webhooks import Receiver

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "client"
DOCS = ROOT / "docs" / "integrations.md"
pytestmark = pytest.mark.django_db(transaction=True)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_endpoint_the_client_calls_is_in_the_openapi_schema(personas):
    sys.path.insert(0, str(CLIENT))
    try:
        from loupe_client import ENDPOINTS
    finally:
        sys.path.remove(str(CLIENT))
    schema = client_for(personas.manager).get("/api/schema/", {"format": "json"}).json()
    offered = {(method, _shape(path)) for path, item in schema["paths"].items() for method in item}
    missing = [(method, path) for method, path in ENDPOINTS if (method, _shape(path)) not in offered]
    assert missing == []


def test_the_client_package_installs_without_loupe(tmp_path):
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index"]
    done = subprocess.run([*install, "--target", str(target), str(CLIENT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    check = "import loupe_client, sys; print(loupe_client.Loupe.__name__, 'django' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ran.stdout.split() == ["Loupe", "False"], ran.stderr
    assert (target / "loupe_client" / "py.typed").exists()


def _docs_example() -> str:
    text = DOCS.read_text()
    block = text.split("<!-- client example -->", 1)[1]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_docs_example_runs_against_a_live_server(personas, live_server, settings, start_worker, tmp_path):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    start_worker(env={"WEBHOOKS_ALLOW_PRIVATE": "true"})
    receiver = Receiver([200])
    token = client_for(personas.manager).post("/api/v1/tokens/", {"name": "notebook"}, format="json").data["key"]
    env = {
        **os.environ,
        "PYTHONPATH": str(CLIENT),
        "LOUPE_URL": live_server.url,
        "LOUPE_TOKEN": token,
        "LOUPE_HOOK_URL": receiver.url,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", _docs_example()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "imported 178 items" in done.stdout
        assert "model version" in done.stdout
        (folder,) = (tmp_path / "model").iterdir()
        assert (folder / "predict.py").exists()
        with (tmp_path / "predictions.csv").open() as handle:
            assert len(list(csv.DictReader(handle))) == 178
        assert (tmp_path / "labels.csv").stat().st_size > 0
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.5)
        assert receiver.requests, "the webhook's test ping did not arrive"
    finally:
        receiver.close()
