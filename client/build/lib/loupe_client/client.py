"""Loupe's REST API (/api/v1/) from Python. Every call is one HTTP request, except the `wait_*` helpers."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import requests

JSON = dict[str, Any]

# Every (method, path) this client calls, as in the server's OpenAPI schema (/api/schema/); a test checks them.
ENDPOINTS = (
    ("get", "/api/v1/projects/"),
    ("post", "/api/v1/projects/"),
    ("get", "/api/v1/projects/{id}/"),
    ("get", "/api/v1/projects/{project_id}/labels/"),
    ("post", "/api/v1/projects/{project_id}/imports/"),
    ("get", "/api/v1/projects/{project_id}/imports/{job_id}/"),
    ("post", "/api/v1/projects/{project_id}/queue/next/"),
    ("post", "/api/v1/projects/{project_id}/annotations/"),
    ("post", "/api/v1/projects/{project_id}/exports/"),
    ("get", "/api/v1/projects/{project_id}/exports/{job_id}/"),
    ("get", "/api/v1/projects/{project_id}/exports/{job_id}/download/"),
    ("get", "/api/v1/projects/{project_id}/learning/"),
    ("post", "/api/v1/projects/{project_id}/learning/train/"),
    ("get", "/api/v1/projects/{project_id}/learning/model-versions/"),
    ("get", "/api/v1/projects/{project_id}/learning/model-versions/{version}/download/"),
    ("get", "/api/v1/projects/{project_id}/learning/model-versions/{version}/predictions/"),
    ("get", "/api/v1/projects/{project_id}/learning/drift-alerts/"),
    ("post", "/api/v1/projects/{project_id}/predictions/"),
    ("get", "/api/v1/projects/{project_id}/webhooks/"),
    ("post", "/api/v1/projects/{project_id}/webhooks/"),
    ("post", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/test/"),
    ("get", "/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries/"),
)


class LoupeError(Exception):
    """A 4xx or 5xx answer: `status` and the server's `detail` (its JSON error body)."""

    def __init__(self, status: int, detail: Any):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Loupe:
    """A session with one Loupe server, authenticated by an API token (Settings -> API tokens)."""

    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    # --- plumbing -------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        answer = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if answer.status_code >= 400:
            try:
                detail = answer.json()
            except ValueError:
                detail = answer.text
            raise LoupeError(answer.status_code, detail)
        return answer

    def _json(self, method: str, path: str, **kwargs) -> Any:
        answer = self._request(method, path, **kwargs)
        return None if answer.status_code == 204 or not answer.content else answer.json()

    def _download(self, path: str, to: str | Path, params: dict | None = None) -> Path:
        target = Path(to)
        with self._request("get", path, params=params, stream=True) as answer, target.open("wb") as out:
            for chunk in answer.iter_content(1 << 20):
                out.write(chunk)
        return target

    @staticmethod
    def _wait(check, timeout: float, what: str) -> JSON:
        deadline = time.monotonic() + timeout
        while True:
            job = check()
            if job["status"] == "done":
                return job
            if job["status"] == "failed":
                raise LoupeError(409, f"{what} failed: {job.get('failure')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not done after {timeout} s")
            time.sleep(1.0)

    # --- projects -------------------------------------------------------------------------------------

    def projects(self) -> list[JSON]:
        answer = self._json("get", "/api/v1/projects/")
        return answer["results"] if isinstance(answer, dict) and "results" in answer else answer

    def create_project(self, spec: JSON) -> JSON:
        """spec: name, data_kind ("image" or "tabular"), labels [{"name": ...}], task_type, ..."""
        return self._json("post", "/api/v1/projects/", json=spec)

    def project(self, project_id: int) -> JSON:
        return self._json("get", f"/api/v1/projects/{project_id}/")

    def labels(self, project_id: int) -> list[JSON]:
        return self._json("get", f"/api/v1/projects/{project_id}/labels/")

    # --- imports --------------------------------------------------------------------------------------

    def import_files(self, project_id: int, paths: list[str | Path], options: JSON | None = None) -> JSON:
        """Upload tables or images; returns the import job (see wait_import)."""
        with ExitStack() as stack:
            handles: list[BinaryIO] = [stack.enter_context(Path(p).open("rb")) for p in paths]
            files = [("files", (Path(p).name, h)) for p, h in zip(paths, handles, strict=True)]
            data = {"options": json.dumps(options or {})}
            return self._json("post", f"/api/v1/projects/{project_id}/imports/", files=files, data=data)

    def wait_import(self, project_id: int, job_id: int, timeout: float = 600) -> JSON:
        path = f"/api/v1/projects/{project_id}/imports/{job_id}/"
        return self._wait(lambda: self._json("get", path), timeout, "import")

    # --- labeling -------------------------------------------------------------------------------------

    def next_item(self, project_id: int) -> JSON | None:
        """The next item to label, leased to you ({"item", "lease_expires_at", "predictions", ...}); None when done."""
        return self._json("post", f"/api/v1/projects/{project_id}/queue/next/")

    def submit(self, project_id: int, item_id: int, label_ids: list[int], client_key: str = "") -> JSON:
        body = {"item_id": item_id, "label_ids": label_ids, "client_key": client_key}
        return self._json("post", f"/api/v1/projects/{project_id}/annotations/", json=body)

    # --- exports --------------------------------------------------------------------------------------

    def export(self, project_id: int, fmt: str = "csv", filters: JSON | None = None) -> JSON:
        body = {"format": fmt, "filters": filters or {}}
        return self._json("post", f"/api/v1/projects/{project_id}/exports/", json=body)

    def wait_export(self, project_id: int, job_id: int, timeout: float = 600) -> JSON:
        path = f"/api/v1/projects/{project_id}/exports/{job_id}/"
        return self._wait(lambda: self._json("get", path), timeout, "export")

    def download_export(self, project_id: int, job_id: int, to: str | Path) -> Path:
        return self._download(f"/api/v1/projects/{project_id}/exports/{job_id}/download/", to)

    # --- the model ------------------------------------------------------------------------------------

    def learning_status(self, project_id: int) -> JSON:
        return self._json("get", f"/api/v1/projects/{project_id}/learning/")

    def train(self, project_id: int) -> JSON:
        return self._json("post", f"/api/v1/projects/{project_id}/learning/train/")

    def model_versions(self, project_id: int) -> list[JSON]:
        return self._json("get", f"/api/v1/projects/{project_id}/learning/model-versions/")

    def wait_model(self, project_id: int, timeout: float = 600) -> JSON:
        """The newest model version, waiting until there is one."""
        deadline = time.monotonic() + timeout
        while not (versions := self.model_versions(project_id)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no model version after {timeout} s")
            time.sleep(1.0)
        return versions[-1]

    def download_model(self, project_id: int, to: str | Path, version: int | str = "latest") -> Path:
        """The model version as a zip (model.json, encoder.pt, classifier.skops, predict.py)."""
        return self._download(f"/api/v1/projects/{project_id}/learning/model-versions/{version}/download/", to)

    def download_predictions(
        self, project_id: int, to: str | Path, version: int | str = "latest", fmt: str = "csv"
    ) -> Path:
        """Every item's prediction by the model version, as csv or parquet."""
        path = f"/api/v1/projects/{project_id}/learning/model-versions/{version}/predictions/"
        return self._download(path, to, params={"format": fmt})

    def drift_alerts(self, project_id: int) -> list[JSON]:
        return self._json("get", f"/api/v1/projects/{project_id}/learning/drift-alerts/")

    def import_predictions(self, project_id: int, source: str, path: str | Path) -> JSON:
        """Another model's predictions (item_id or external_id, label or labels, score) as suggestions."""
        with Path(path).open("rb") as handle:
            files = {"file": (Path(path).name, handle)}
            path = f"/api/v1/projects/{project_id}/predictions/"
            return self._json("post", path, files=files, data={"source": source})

    # --- webhooks -------------------------------------------------------------------------------------

    def webhooks(self, project_id: int) -> list[JSON]:
        return self._json("get", f"/api/v1/projects/{project_id}/webhooks/")

    def create_webhook(self, project_id: int, url: str, events: list[str]) -> JSON:
        """A webhook for the events; the answer holds the `secret` its signatures are made with."""
        return self._json("post", f"/api/v1/projects/{project_id}/webhooks/", json={"url": url, "events": events})

    def test_webhook(self, project_id: int, webhook_id: int) -> JSON:
        return self._json("post", f"/api/v1/projects/{project_id}/webhooks/{webhook_id}/test/")

    def deliveries(self, project_id: int, webhook_id: int) -> list[JSON]:
        return self._json("get", f"/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries/")["results"]
