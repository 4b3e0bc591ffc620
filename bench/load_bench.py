"""Load over HTTP: gunicorn and real Celery workers started as `make run` starts them, annotators looping
next -> submit (10% of submits re-sent with the same client key) while the worker re-ranks after every batch,
optionally with a table import and exports running alongside.

    .venv/bin/python bench/load_bench.py --db sqlite --items 100000 --annotators 8,32 --seconds 60
    .venv/bin/python bench/load_bench.py --db postgres --items 1000000 --annotators 8,32 --seconds 60 \
        --with-import --with-export

One phase per annotator count, on the same project (the queue is not reset between phases). Each phase prints
next / submit latency, false "empty" answers (204 while open items remain), duplicates, lost submits, 5xx
answers, the rankings that ran (their write time, and label -> new ranking served latency), and the resident
memory of the web and worker processes. The annotators are driven by the shared load generator
(`annotator_load.py`, standard library only; LOUPE_LOAD_TOOL), which stops an annotator at its first 204. That
204 was false if items that existed when the phase began are still open, unanswered and unleased at its end (a
count that only falls during a phase); each 204 is listed with the ranking that was writing in that second.

A scratch install, never real data: its own LOUPE_DATA_DIR; SQLite with the embedded broker, or PostgreSQL
database `loupe_loadbench` on 127.0.0.1:5432 (dropped and recreated) with Redis db 14 (flushed) as broker.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VENV_BIN = ROOT / ".venv" / "bin"
LOAD_TOOL = Path(os.environ.get("LOUPE_LOAD_TOOL", "/work/shared/tools/annotator_load.py"))
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432/loupe_loadbench"
REDIS_URL = "redis://127.0.0.1:6379/14"
N_FEATURES, N_CLASSES = 8, 4
FINISHED = ("done", "failed")


# --- the scratch install ------------------------------------------------------------------------------------


def configure(db: str, scratch: Path) -> dict[str, str]:
    """The environment every process of the install gets (this one included, for its own database reads)."""
    env = {
        "LOUPE_DATA_DIR": str(scratch / "data"),
        "DJANGO_SETTINGS_MODULE": "loupe.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        # The simulated annotators loop without pausing (10-20 requests a second each), far above a person's
        # pace, which the per-user rate limit is sized for: it would answer them 429.
        "API_RATE_PER_USER": "100000/min",
    }
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{scratch}/data/loupe.sqlite3"
        env["CELERY_BROKER_URL"] = f"sqla+sqlite:///{scratch}/data/broker.sqlite3"  # what `make run` uses
    else:
        env["DATABASE_URL"] = PG_URL
        env["CELERY_BROKER_URL"] = env["REDIS_URL"] = REDIS_URL  # broker and shared cache, as in production
    for name in ("REDIS_URL", "CELERY_QUEUE", "LOUPE_MEDIA_ROOT", "S3_BUCKET"):
        if name not in env:
            os.environ.pop(name, None)  # nothing inherited may point the scratch install at real services
    os.environ.update(env)
    return {**os.environ}


def recreate_postgres() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS loupe_loadbench WITH (FORCE)")
        conn.execute("CREATE DATABASE loupe_loadbench")


def flush_redis() -> None:
    subprocess.run(["redis-cli", "-p", "6379", "-n", "14", "flushdb"], check=True, capture_output=True)


@dataclass
class Install:
    project_id: int
    label_ids: list[int]
    owner_token: str
    annotator_tokens: list[str]
    annotator_ids: list[int]
    batch_size: int


def setup_install(n_items: int, n_annotators: int, batch_size: int) -> Install:
    """Migrate, then a tabular project of `n_items` generated rows (4 classes in 8 features), annotators with
    API tokens, and the strategy's batch size."""
    import django

    django.setup()
    from django.core.management import call_command

    from active_learning.services import strategy_set
    from annotation.models import Membership, Role
    from annotation.services import project_create
    from core.models import User
    from core.services import api_token_create

    call_command("migrate", verbosity=0)
    owner = User.objects.create_superuser("owner", "owner@example.com", "x")
    columns = [f"f{j}" for j in range(N_FEATURES)]
    project = project_create(
        creator=owner,
        spec={
            "name": "load",
            "data_kind": "tabular",
            "labels": [{"name": f"class {c}", "hotkey": str(c + 1)} for c in range(N_CLASSES)],
            "feature_columns": columns,
            "shown_columns": columns,
        },
    )
    project.columns = [{"name": name, "type": "numeric"} for name in columns]
    project.save(update_fields=["columns"])
    started = time.perf_counter()
    items_insert(project, n_items, first_id=0)
    print(f"setup: {n_items:,} items inserted in {time.perf_counter() - started:.1f} s")
    users = [User.objects.create_user(f"annotator{i}", password="x") for i in range(n_annotators)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users)
    strategy_set(project=project, user=owner, spec={"batch_size": batch_size})  # no embedding yet: no ranking
    return Install(
        project_id=project.id,
        label_ids=list(project.labels.order_by("position").values_list("id", flat=True)),
        owner_token=api_token_create(user=owner, name="load")[1],
        annotator_tokens=[api_token_create(user=u, name="load")[1] for u in users],
        annotator_ids=[u.id for u in users],
        batch_size=batch_size,
    )


def generated_rows(n_rows: int, seed: int) -> np.ndarray:
    """(n_rows, N_FEATURES) float32: Gaussian blobs around N_CLASSES random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(N_CLASSES, N_FEATURES))
    return (centres[rng.integers(0, N_CLASSES, n_rows)] + rng.normal(size=(n_rows, N_FEATURES))).astype(np.float32)


def items_insert(project, n_items: int, first_id: int) -> None:
    """The rows an import would write (annotation.io.importers), through the same bulk insert."""
    from django.db import transaction
    from django.utils import timezone

    from annotation.io.importers import INSERTED_FIELDS
    from core.db import bulk_insert, tables_analyze

    X = generated_rows(n_items, seed=0).round(4)
    rng = np.random.default_rng(1)
    names = [f"f{j}" for j in range(N_FEATURES)]
    now = timezone.now()
    for start in range(0, n_items, 20_000):
        empty = {"image": "", "thumbnail": "", "width": None, "height": None, "content_hash": "", "agreement": None}
        rows = [
            tuple(
                {
                    **empty,
                    "project": project.id,
                    "external_id": str(first_id + start + n),
                    "data": json.dumps(dict(zip(names, map(float, row), strict=True))),
                    "status": "open",
                    "annotation_count": 0,
                    "priority": 0.0,
                    "random_key": float(key),
                    "review_status": "unreviewed",
                    "created_at": now,
                }[name]
                for name in INSERTED_FIELDS
            )
            for n, (row, key) in enumerate(zip(X[start : start + 20_000], rng.random(20_000), strict=False))
        ]
        with transaction.atomic():
            bulk_insert(project.items.model, INSERTED_FIELDS, rows)
    tables_analyze(project.items.model)


# --- processes ----------------------------------------------------------------------------------------------


def web_command(host: str, port: int, workers: int) -> list[str]:
    """As scripts/run.sh starts the web server."""
    return [
        str(VENV_BIN / "gunicorn"),
        "loupe.wsgi",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "5",
    ]


def worker_commands(single: bool = False, ranking_nice: int = 0) -> dict[str, list[str]]:
    """As scripts/run.sh starts the workers: name -> command, one worker per queue of settings.TASK_QUEUES
    (beat in the interactive one), at its CPU priority (`ranking_nice` for the rankings worker, 10 for the others)
    and with its statement limit; `single`: one worker for every queue."""
    from django.conf import settings

    worker = ["env", "DATABASE_STATEMENT_TIMEOUT_S=900", str(VENV_BIN / "celery"), "-A", "loupe", "worker"]
    worker += ["--loglevel", "INFO", "--concurrency", "1", "--without-gossip", "--without-mingle"]
    if single:
        return {"worker": ["nice", "-n", "10", *worker, "--beat"]}
    commands = {}
    for kind, queue in settings.TASK_QUEUES.items():
        nice = ranking_nice if kind == "rankings" else 10
        beat = ["--beat"] if kind == "interactive" else []
        commands[kind] = ["nice", "-n", str(nice), *worker, "--queues", queue, "--hostname", f"{kind}@%h", *beat]
    return commands


class Processes:
    """The web server and workers of the install, each in its own process group (so that a kill takes its pool
    children too) but in this session, as `make run` starts them in its terminal's: Linux shares the CPU between
    sessions first, so the workers' lower priority counts only against processes of their own session. Logs in the
    scratch directory."""

    def __init__(self, scratch: Path, env: dict[str, str], web: list[str], workers: dict[str, list[str]]):
        self.scratch, self.env, self.web_cmd, self.worker_cmds = scratch, env, web, workers
        self.web: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.scratch / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the process's life
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, process_group=0)

    def start_web(self, url: str) -> None:
        self.web = self._start("web", self.web_cmd)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/api/v1/health/", timeout=5).read()
                return
            except urllib.error.HTTPError:
                return  # it answers (health may say 503 before a worker beats)
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"gunicorn did not answer within 60 s; see {self.scratch / 'web.log'}")

    def start_workers(self) -> None:
        for name, command in self.worker_cmds.items():
            self.workers[name] = self._start(name, command)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and its pool children at once, as the OOM killer or a lost machine would."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def restart_worker(self, name: str) -> None:
        self.workers[name] = self._start(name, self.worker_cmds[name])

    def stop(self) -> None:
        for process in [*self.workers.values(), self.web]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers.values(), self.web]:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def web_log(self, start: int = 0) -> str:
        with open(self.scratch / "web.log", "rb") as log:
            log.seek(start)
            return log.read().decode(errors="replace")

    def web_log_5xx(self, start: int = 0) -> tuple[int, int, list[str]]:
        """(5xx answers in the access log after byte `start`, the log's size, the first few such lines)."""
        lines = [line for line in self.web_log(start).splitlines() if re.search(r'" 5\d\d ', line)]
        return len(lines), (self.scratch / "web.log").stat().st_size, lines[:5]

    def empty_answers_at(self, start: int = 0) -> list[datetime]:
        """When the queue answered 204 (the access log's second)."""
        found = re.findall(r'\[([^\]]+)\] "POST [^"]*/queue/next/[^"]*" 204 ', self.web_log(start))
        return [datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z") for stamp in found]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return kids + [grandchild for kid in kids for grandchild in _children(kid)]


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy (not idle or waiting on disk) since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during a phase by each part of the install: the web server's processes, the workers' (with their
    pool children), the database's server processes for this install (PostgreSQL), and the load generator."""

    def __init__(self, processes: Processes):
        self.processes = processes

    def _pids(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {"web": [], "workers": [], "database": []}
        if self.processes.web is not None:
            roles["web"] = [self.processes.web.pid, *_children(self.processes.web.pid)]
        for process in self.processes.workers.values():
            roles["workers"] += [process.pid, *_children(process.pid)]
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                roles["database"] = [row[0] for row in cursor.fetchall()]
        return roles

    def snapshot(self) -> dict:
        children = os.times()
        return {
            "pids": {role: {pid: cpu_s(pid) for pid in pids} for role, pids in self._pids().items()},
            "load generator": children.children_user + children.children_system,  # reaped children: the load tool
            "machine": machine_busy_s(),
            "at": time.monotonic(),
        }

    def report(self, start: dict, annotations: int) -> str:
        end = self.snapshot()
        used = {
            role: sum(cpu - start["pids"][role].get(pid, 0.0) for pid, cpu in end["pids"][role].items())
            for role in end["pids"]
        }
        used["load generator"] = end["load generator"] - start["load generator"]
        seconds = end["at"] - start["at"]
        per = ", ".join(f"{role} {value / max(annotations, 1) * 1000:.1f} ms" for role, value in used.items())
        return (
            f"  CPU per annotation (next + submit, and what they cause): {per}; cores busy: the whole machine "
            f"{(end['machine'] - start['machine']) / seconds:.2f}, this install and its load "
            f"{sum(used.values()) / seconds:.2f} of {os.cpu_count()}"
        )


class RssSampler(threading.Thread):
    """Samples, once a second, the resident memory of each gunicorn worker and each worker process (its main
    process and pool children): the maximum seen per role."""

    def __init__(self, processes: Processes):
        super().__init__(daemon=True)
        self.processes = processes
        self.max: dict[str, float] = {}
        self.stopped = threading.Event()

    def sample(self) -> dict[str, float]:
        now: dict[str, float] = {}
        if self.processes.web is not None:
            for pid in _children(self.processes.web.pid):
                now[f"web worker pid {pid}"] = rss_mb(pid)
        for name, process in self.processes.workers.items():
            if process.poll() is None:
                now[f"{name} (main)"] = rss_mb(process.pid)
                for pid in _children(process.pid):  # the pool's process, and beat's with --beat
                    now[f"{name} (child pid {pid})"] = rss_mb(pid)
        for key, value in now.items():
            self.max[key] = max(self.max.get(key, 0.0), value)
        return now

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.sample()

    def report(self) -> str:
        return ", ".join(f"{key} {value:.0f} MB" for key, value in sorted(self.max.items()))


# --- HTTP as a manager --------------------------------------------------------------------------------------


class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url, self.token = base_url, token

    def call(self, method: str, path: str, body=None, *, files: dict | None = None, timeout: float = 60):
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        data = None
        if files is not None:
            boundary = uuid.uuid4().hex
            parts = []
            for name, (filename, content) in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n".encode()
                    + content
                    + b"\r\n"
                )
            for name, value in (body or {}).items():
                disposition = f'Content-Disposition: form-data; name="{name}"'
                parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
            data = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw[:300].decode(errors="replace")

    def wait_job(self, path: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status, job = self.call("GET", path, timeout=10)
            except OSError:
                status, job = None, None
            if status == 200 and job["status"] in FINISHED:
                return job
            time.sleep(0.5)
        return {"status": "timed out"}


@dataclass
class SideLoad:
    """An import and exports run by a manager while annotators label; what happened to each job."""

    api: Api
    project_id: int
    import_rows: int = 0
    import_after_s: float = 0.0
    export_every_s: float = 0.0
    job_timeout_s: float = 600.0
    imports: list[dict] = field(default_factory=list)
    exports: list[dict] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        if self.import_rows:
            self.threads.append(threading.Thread(target=self._import, daemon=True))
        if self.export_every_s:
            self.threads.append(threading.Thread(target=self._exports, daemon=True))
        for thread in self.threads:
            thread.start()

    def stop(self, wait_s: float) -> None:
        """No new exports; wait up to `wait_s` for the jobs already asked for."""
        self.stopped.set()
        deadline = time.monotonic() + wait_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _import(self) -> None:
        if self.stopped.wait(self.import_after_s):
            return
        rows = generated_rows(self.import_rows, seed=int(time.time()))
        lines = ["id," + ",".join(f"f{j}" for j in range(N_FEATURES))]
        prefix = uuid.uuid4().hex[:8]
        lines += [f"{prefix}-{n}," + ",".join(f"{v:.4f}" for v in row) for n, row in enumerate(rows)]
        content = ("\n".join(lines) + "\n").encode()
        started = time.monotonic()
        status, job = self.api.call(
            "POST",
            f"/api/v1/projects/{self.project_id}/imports/",
            {"mode": "valid_only", "options": json.dumps({"id_column": "id"})},
            files={"files": ("load.csv", content)},
            timeout=120,
        )
        record = {"rows": self.import_rows, "http": status, "accepted_s": round(time.monotonic() - started, 2)}
        if status == 202:
            done = self.api.wait_job(f"/api/v1/projects/{self.project_id}/imports/{job['id']}/", self.job_timeout_s)
            record.update(status=done["status"], created=done.get("created_count"), seconds=time.monotonic() - started)
        else:
            record.update(status="refused", answer=str(job)[:200])
        self.imports.append(record)

    def _exports(self) -> None:
        formats = ["csv", "jsonl", "parquet"]
        while not self.stopped.wait(self.export_every_s if self.exports else 1.0):
            fmt = formats[len(self.exports) % len(formats)]
            started = time.monotonic()
            try:
                status, job = self.api.call("POST", f"/api/v1/projects/{self.project_id}/exports/", {"format": fmt})
            except OSError as exc:
                self.exports.append({"format": fmt, "status": f"network error: {exc}"})
                continue
            record = {"format": fmt, "http": status}
            if status == 202:
                path = f"/api/v1/projects/{self.project_id}/exports/{job['id']}/"
                done = self.api.wait_job(path, self.job_timeout_s)
                record.update(status=done["status"], rows=done.get("total"), seconds=time.monotonic() - started)
            else:
                record.update(status="refused", answer=str(job)[:200])
            self.exports.append(record)

    def report(self) -> list[str]:
        lines = []
        for job in self.imports:
            took = f"{job['seconds']:.1f} s" if "seconds" in job else "-"
            lines.append(
                f"  import of {job['rows']:,} rows: HTTP {job['http']} after {job['accepted_s']} s, "
                f"{job['status']} ({job.get('created')} items) {took} after the request"
            )
        if self.exports:
            done = [e["seconds"] for e in self.exports if e.get("status") == "done"]
            other = [e["status"] for e in self.exports if e.get("status") != "done"]
            figures = f"request -> done median {statistics.median(done):.1f} s, max {max(done):.1f} s" if done else ""
            lines.append(f"  exports: {len(self.exports)} asked, {len(done)} done {figures}; not done: {other}")
        return lines


# --- one phase of annotators --------------------------------------------------------------------------------


def load_profile(install: Install, base_url: str, path: Path, timeout_s: float) -> Path:
    users = [{"token": token} for token in install.annotator_tokens] + [{"token": install.owner_token}]
    project = "/api/v1/projects/{project}/"
    profile = {
        "base_url": base_url,
        "timeout_s": timeout_s,
        "auth": {"kind": "token", "header": "Authorization", "prefix": "Token "},
        "users": users,
        "project": install.project_id,
        "labels": install.label_ids,
        "next": {"method": "POST", "path": project + "queue/next/", "item_id_json_path": "item.id"},
        "submit": {
            "method": "POST",
            "path": project + "annotations/",
            "body": {"item_id": "{item_id}", "label_ids": ["{label}"], "client_key": "{uuid}"},
        },
        # Managers see every answer to an item: the owner (the last user) counts them.
        "count": {"method": "GET", "path": project + "items/{item_id}/annotations/", "user": len(users) - 1},
    }
    path.write_text(json.dumps(profile, indent=1))
    return path


@dataclass
class Mark:
    """Where the data stood when a phase began."""

    at: datetime
    max_item_id: int
    max_annotation_id: int
    current_seen: int
    log_offset: int


def mark(processes: Processes, project_id: int) -> Mark:
    from django.db.models import Max
    from django.utils import timezone

    from annotation.models import Annotation, Item

    return Mark(
        at=timezone.now(),
        max_item_id=Item.objects.filter(project_id=project_id).aggregate(m=Max("id"))["m"] or 0,
        max_annotation_id=Annotation.objects.aggregate(m=Max("id"))["m"] or 0,
        current_seen=_current_ranking_seen(project_id),
        log_offset=processes.web_log_5xx()[1],
    )


def _current_ranking_seen(project_id: int) -> int:
    from active_learning.models import LearningRun

    run = LearningRun.objects.filter(project_id=project_id, kind="rank", status="done").order_by("-finished_at").first()
    return run.result.get("annotations_seen", 0) if run else 0


def run_annotators(
    profile: Path, concurrency: int, seconds: float, iterations: int | None, log: Path
) -> tuple[dict, float]:
    """The shared load generator for one level; its JSON result and wall seconds."""
    command = [
        sys.executable,
        str(LOAD_TOOL),
        "--profile",
        str(profile),
        "--concurrency",
        str(concurrency),
        "--iterations",
        str(iterations or 10**9),
        "--phase-timeout-s",
        str(seconds if iterations is None else 3600),
        "--retry-submit-prob",
        "0.1",
    ]
    started = time.monotonic()
    with open(log, "ab") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, check=False)
    if done.returncode != 0:
        raise SystemExit(f"annotator_load exited {done.returncode}; see {log}")
    return json.loads(done.stdout)["levels"][0], time.monotonic() - started


def open_available(project_id: int, max_item_id: int) -> int:
    """Open items that existed when the phase began, unanswered, with no live lease: what any annotator (of an
    overlap-1 project) could still be given."""
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from annotation.models import Item, Lease

    live = Lease.objects.filter(item=OuterRef("pk"), expires_at__gt=timezone.now())
    return (
        Item.objects.filter(project_id=project_id, status="open", id__lte=max_item_id, annotation_count=0)
        .exclude(Exists(live))
        .count()
    )


def data_checks(install: Install, start: Mark) -> dict:
    """Duplicates and rows written in the phase, from the database."""
    from django.db.models import Count

    from annotation.models import Annotation, Project

    overlap = Project.objects.get(id=install.project_id).overlap
    phase = Annotation.objects.filter(item__project_id=install.project_id, id__gt=start.max_annotation_id)
    over = (
        Annotation.objects.filter(item__project_id=install.project_id, status="active")
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gt=overlap)
        .count()
    )
    return {"rows": phase.filter(annotator_id__in=install.annotator_ids).count(), "items_over_overlap": over}


def ranking_figures(install: Install, start: Mark, until: datetime) -> dict:
    """Rankings that finished in the phase, and label -> new ranking served: from the submit that completes a
    batch (the batch_size-th answer newer than the current ranking) until a ranking that saw it is done."""
    from active_learning.models import LearningRun
    from annotation.models import Annotation

    runs = list(
        LearningRun.objects.filter(
            project_id=install.project_id, kind="rank", status="done", finished_at__gt=start.at, finished_at__lte=until
        ).order_by("finished_at")
    )
    failed = LearningRun.objects.filter(
        project_id=install.project_id, kind="rank", status="failed", created_at__gt=start.at
    ).count()
    answers = Annotation.objects.filter(item__project_id=install.project_id).order_by("id")
    served, seen, waiting = [], start.current_seen, None
    while True:
        newer = answers.filter(id__gt=seen).values_list("id", "created_at")
        batch_end = newer[install.batch_size - 1 : install.batch_size]
        if not batch_end:
            break
        answer_id, answered_at = batch_end[0]
        run = next((r for r in runs if r.result.get("annotations_seen", 0) >= answer_id), None)
        if run is None:
            waiting = answered_at
            break
        served.append((run.finished_at - answered_at).total_seconds())
        seen = run.result["annotations_seen"]
    return {
        "runs": len(runs),
        "failed": failed,
        "total_s": [r.result.get("seconds") for r in runs],
        "rank_s": [r.result.get("rank_seconds") for r in runs],
        "write_s": [_write_seconds(r) for r in runs],
        "queued_s": [(r.started_at - r.created_at).total_seconds() for r in runs if r.started_at],
        "served_s": served,
        "unserved_since_s": (until - waiting).total_seconds() if waiting else None,
    }


def _empty_answers_explained(install: Install, processes: Processes, start: Mark) -> list[str]:
    """Each 204 of the phase, with the ranking that was writing in that second, if any."""
    from datetime import timedelta

    from active_learning.models import LearningRun

    runs = LearningRun.objects.filter(project_id=install.project_id, kind="rank", finished_at__gt=start.at)
    lines = []
    for at in processes.empty_answers_at(start.log_offset):
        second = (at, at + timedelta(seconds=1))
        writing = [r for r in runs if r.heartbeat_at and r.heartbeat_at < second[1] and r.finished_at >= second[0]]
        during = ", ".join(f"ranking {r.id} writing {_hms(r.heartbeat_at)}-{_hms(r.finished_at)}" for r in writing)
        lines.append(f"204 at {at:%H:%M:%S}: {during or 'no ranking writing'}")
    return lines


def _hms(moment: datetime) -> str:
    return f"{moment:%H:%M:%S.%f}"[:-3]


def _write_seconds(run) -> float | None:
    """The run's own figure if it records one; else from its last heartbeat, which a rank run writes as it starts
    writing the ranking (message "Writing the ranking"), to done."""
    if "write_seconds" in run.result:
        return run.result["write_seconds"]
    if run.heartbeat_at is None or run.finished_at is None:
        return None
    return (run.finished_at - run.heartbeat_at).total_seconds()


def _dist(values: list[float], unit: str = "s") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    a = np.asarray(values, dtype=float)
    return f"median {np.median(a):.2f} {unit}, p95 {np.percentile(a, 95):.2f}, max {a.max():.2f} (n={len(a)})"


def _lat(stats: dict) -> str:
    if not stats.get("n"):
        return "no calls"
    return (
        f"p50 {stats['p50']:7.1f}  p95 {stats['p95']:7.1f}  p99 {stats['p99']:7.1f}  max {stats['max']:7.1f} ms"
        f"  (n={stats['n']:,})"
    )


def phase_report(
    install: Install, result: dict, wall: float, start: Mark, processes: Processes, available_after: int
) -> tuple[list[str], dict]:
    """Printable lines and the figures that the soak checks."""
    from django.utils import timezone

    checks = data_checks(install, start)
    rankings = ranking_figures(install, start, timezone.now())
    empties = result["stop_reasons"].get("empty", 0)
    false_empty = empties if available_after > 0 else 0
    idem = result["idempotency"]
    duplicate_keys = idem.get("created_duplicate") is True
    duplicates = result["items_annotated_by_multiple_annotators"] + checks["items_over_overlap"] + duplicate_keys
    lost = max(0, result["annotations"] - checks["rows"])
    n_5xx_log, _, lines_5xx = processes.web_log_5xx(start.log_offset)
    statuses = {kind: counts for kind, counts in result["status_counts"].items() if counts}
    figures = {
        "false_empty": false_empty,
        "duplicates": duplicates,
        "lost": lost,
        "http_5xx": n_5xx_log,
        "errors": result["errors"],
    }
    out = [
        f"  next     {_lat(result['latency_ms']['next'])}",
        f"  submit   {_lat(result['latency_ms']['submit'])}",
        f"  resubmit {_lat(result['latency_ms']['resubmit'])}",
        f"  {result['annotations']:,} annotations in {wall:.1f} s ({result['throughput_annotations_per_s']:.0f}/s); "
        f"stops: {result['stop_reasons']}; statuses: {statuses}",
        f"  false empty: {false_empty} (empty answers {empties}; open unleased items left {available_after:,})"
        + "".join(f"\n    {line}" for line in _empty_answers_explained(install, processes, start)),
        f"  duplicates: {duplicates} (items answered by >1 annotator "
        f"{result['items_annotated_by_multiple_annotators']}, "
        f"items over overlap {checks['items_over_overlap']}, resubmit created a duplicate: "
        f"{idem.get('created_duplicate')} over {idem.get('resubmits')} resubmits {idem.get('resubmit_statuses')})",
        f"  lost submits: {lost} (accepted {result['annotations']:,}, rows {checks['rows']:,}); "
        f"5xx in the access log: {n_5xx_log}" + (f" e.g. {lines_5xx[0]}" if lines_5xx else ""),
        f"  rankings: {rankings['runs']} done, {rankings['failed']} failed; run {_dist(rankings['total_s'])}; "
        f"fit+score {_dist(rankings['rank_s'])}",
        f"  ranking write (last heartbeat -> done): {_dist(rankings['write_s'])}; "
        f"waited in the queue {_dist(rankings['queued_s'])}",
        f"  label -> new ranking served: {_dist(rankings['served_s'])}"
        + (
            f"; a batch waiting {rankings['unserved_since_s']:.1f} s at the end"
            if rankings["unserved_since_s"] is not None
            else ""
        ),
    ]
    return out, figures


# --- the whole run ------------------------------------------------------------------------------------------


def wait_for_first_ranking(project_id: int, timeout: float) -> None:
    """Embed the project (on the worker, as an import would ask) and wait until its first ranking is served."""
    from active_learning.models import LearningRun
    from active_learning.services import training_run_request
    from annotation.models import Project

    started = time.monotonic()
    embed = training_run_request(project=Project.objects.get(id=project_id), reason="request")
    deadline = started + timeout
    while time.monotonic() < deadline:
        embed.refresh_from_db()
        rank = LearningRun.objects.filter(project_id=project_id, kind="rank").order_by("-id").first()
        if embed.status == "failed" or (rank is not None and rank.status == "failed"):
            raise SystemExit(f"learning run failed: {embed.failure or rank.failure}")
        if rank is not None and rank.status == "done":
            print(
                f"setup: embedding {embed.result.get('seconds')} s, first ranking {rank.result.get('seconds')} s; "
                f"served {time.monotonic() - started:.1f} s after the request"
            )
            return
        time.sleep(0.5)
    raise SystemExit(f"no ranking within {timeout:.0f} s")


def start_install(args, scratch: Path) -> tuple[Install, Processes, str]:
    env = configure(args.db, scratch)
    if args.db == "postgres":
        recreate_postgres()
        flush_redis()
    install = setup_install(args.items, max(args.annotators), args.batch_size)
    base_url = f"http://127.0.0.1:{args.port}"
    from django.db import connections

    connections.close_all()
    processes = Processes(
        scratch,
        env,
        web_command("127.0.0.1", args.port, args.web_workers),
        worker_commands(args.single_worker, args.ranking_nice),
    )
    processes.start_web(base_url)
    processes.start_workers()
    return install, processes, base_url


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=20, help="the strategy's batch: labels per ranking")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (make run: 2)")
    parser.add_argument(
        "--single-worker", action="store_true", help="one worker for every queue (make run starts one per queue)"
    )
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument(
        "--ranking-nice", type=int, default=0, help="the rankings worker's CPU priority (make run: RANKING_NICE, 0)"
    )
    parser.add_argument("--timeout-s", type=float, default=30.0, help="annotators' HTTP timeout")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs) afterwards")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--annotators", type=lambda s: [int(n) for n in s.split(",")], default=[8, 32])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--iterations", type=int, help="next -> submit cycles per annotator instead of --seconds")
    parser.add_argument("--with-import", action="store_true", help="a table import into the project, per phase")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--with-export", action="store_true", help="exports (csv, jsonl, parquet) in turn")
    parser.add_argument("--export-every", type=float, default=15.0, help="seconds between export requests")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="loupe-loadbench-"))
    print(
        f"load bench: {args.db}, {args.items:,} items, annotators {args.annotators}, "
        + (f"{args.iterations} iterations" if args.iterations else f"{args.seconds:g} s")
        + f" per phase, batch {args.batch_size}, {args.web_workers} web processes, {os.cpu_count()} CPUs; "
        f"scratch {scratch}"
    )
    install, processes, base_url = start_install(args, scratch)
    sampler = RssSampler(processes)
    cpu = CpuMeter(processes)
    try:
        wait_for_first_ranking(install.project_id, timeout=1800)
        sampler.start()
        manager = Api(base_url, install.owner_token)
        for level in args.annotators:
            profile = load_profile(install, base_url, scratch / "profile.json", args.timeout_s)
            start = mark(processes, install.project_id)
            side = SideLoad(
                manager,
                install.project_id,
                import_rows=args.import_rows if args.with_import else 0,
                export_every_s=args.export_every if args.with_export else 0,
            )
            side.start()
            cpu_start = cpu.snapshot()
            result, wall = run_annotators(profile, level, args.seconds, args.iterations, scratch / "annotators.log")
            cpu_line = cpu.report(cpu_start, result["annotations"])
            available = open_available(install.project_id, start.max_item_id)
            lines, _ = phase_report(install, result, wall, start, processes, available)
            side.stop(wait_s=120)
            print(f"{level} annotators:")
            print("\n".join([*lines, cpu_line, *side.report()]))
            print(f"  RSS so far (max per process): {sampler.report()}")
    finally:
        sampler.stopped.set()
        processes.stop()
        print(f"logs: {scratch}" if args.keep else "")
        if not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
