"""A day in the life, compressed into one run: annotators label over HTTP while rankings run, a manager imports
a table and exports in turn, the worker is SIGKILLed (and restarted, as a supervisor would) and, on
PostgreSQL + Redis, Redis restarts. Ends with the checks printed; exits 1 if any fails.

    .venv/bin/python bench/soak.py --db sqlite --items 100000 --seconds 600
    .venv/bin/python bench/soak.py --db postgres --items 100000 --seconds 600   # restarts the shared Redis

Checks: no false "empty", no duplicates, no lost submits, no 5xx other than 503 (a 503 is the answer due while
the broker is away), and, once the run settles (--settle-s), no import, export or learning run left queued,
running or failed. The scratch install is load_bench's (its own data directory; `loupe_loadbench` and Redis
db 14 on PostgreSQL). The Redis restart disturbs every Redis user on the machine for a second or two:
--no-redis-restart skips it.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_bench import (
    Api,
    RssSampler,
    SideLoad,
    add_common_arguments,
    load_profile,
    mark,
    open_available,
    phase_report,
    run_annotators,
    start_install,
    wait_for_first_ranking,
)

# How Redis is started on this machine; only db 14 (the bench's broker) holds anything the run needs.
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def redis_up() -> bool:
    ping = subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True, check=False)
    return ping.stdout.strip() == "PONG"


def redis_restart() -> float:
    """Shut Redis down (nothing saved) and start it again; seconds it was away."""
    started = time.monotonic()
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, check=False)
    deadline = time.monotonic() + 10
    while redis_up() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not redis_up():  # only if it is really down
        subprocess.run(REDIS_START, check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while not redis_up():
        if time.monotonic() > deadline:
            raise SystemExit("Redis did not come back within 30 s")
        time.sleep(0.1)
    return time.monotonic() - started


def jobs_left(project_id: int) -> dict[str, dict[str, int]]:
    """Imports, exports and learning runs of the project by status, leaving out the done ones."""
    from django.db.models import Count

    from active_learning.models import LearningRun
    from annotation.models import ExportJob, ImportJob

    out = {}
    for name, model in (("imports", ImportJob), ("exports", ExportJob), ("learning runs", LearningRun)):
        rows = model.objects.filter(project_id=project_id).exclude(status="done").values_list("status")
        out[name] = dict(rows.annotate(n=Count("id")).values_list("status", "n"))
    return out


def jobs_not_done(project_id: int) -> list[str]:
    """One line per import, export or learning run that is not done: what it is and when it last beat."""
    from django.utils import timezone

    from active_learning.models import LearningRun
    from annotation.models import ExportJob, ImportJob

    lines = []
    for name, model in (("import", ImportJob), ("export", ExportJob), ("learning run", LearningRun)):
        for job in model.objects.filter(project_id=project_id).exclude(status="done").order_by("id"):
            beat = f"{(timezone.now() - job.heartbeat_at).total_seconds():.0f} s ago" if job.heartbeat_at else "never"
            kind = f" {job.kind} ({job.reason})" if model is LearningRun else ""
            lines.append(
                f"    {name} {job.id}{kind}: {job.status}, attempts {job.attempts}, last heartbeat {beat}"
                + (f", failure: {job.failure[:200]}" if job.failure else "")
            )
    return lines


def settle(project_id: int, seconds: float) -> tuple[dict, float]:
    """Wait until no job is queued or running (or `seconds` pass); what is left and how long it took."""
    started = time.monotonic()
    while True:
        left = jobs_left(project_id)
        pending = sum(n for by in left.values() for status, n in by.items() if status in ("queued", "running"))
        if not pending or time.monotonic() - started > seconds:
            return left, time.monotonic() - started
        time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=600.0, help="how long the annotators label")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--export-every", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=0.35, help="share of --seconds: SIGKILL the worker")
    parser.add_argument(
        "--kill-worker",
        help="which worker: interactive or training ('worker' with --single-worker); default the first",
    )
    parser.add_argument("--redis-restart-at", type=float, default=0.6, help="share of --seconds: restart Redis")
    parser.add_argument("--no-redis-restart", action="store_true")
    parser.add_argument("--settle-s", type=float, default=180.0, help="time the jobs get to finish at the end")
    args = parser.parse_args()
    args.annotators = [args.annotators]
    restart_redis = args.db == "postgres" and not args.no_redis_restart

    scratch = Path(tempfile.mkdtemp(prefix="loupe-soak-"))
    print(
        f"soak: {args.db}, {args.items:,} items, {args.annotators[0]} annotators for {args.seconds:g} s, import of "
        f"{args.import_rows:,} rows, an export every {args.export_every:g} s, worker SIGKILL at "
        f"{args.kill_at:.0%}, Redis restart {'at ' + format(args.redis_restart_at, '.0%') if restart_redis else 'no'}"
        f"; {os.cpu_count()} CPUs; scratch {scratch}"
    )
    install, processes, base_url = start_install(args, scratch)
    sampler = RssSampler(processes)
    t0 = time.monotonic()

    def event(text: str) -> None:
        print(f"  t={time.monotonic() - t0:6.1f} s  {text}", flush=True)

    try:
        wait_for_first_ranking(install.project_id, timeout=1800)
        sampler.start()
        profile = load_profile(install, base_url, scratch / "profile.json", args.timeout_s)
        start = mark(processes, install.project_id)
        side = SideLoad(
            Api(base_url, install.owner_token),
            install.project_id,
            import_rows=args.import_rows,
            import_after_s=0.1 * args.seconds,
            export_every_s=args.export_every,
            job_timeout_s=args.seconds + args.settle_s,
        )
        outcome: dict = {}
        annotators = threading.Thread(
            target=lambda: outcome.update(
                zip(
                    ("result", "wall"),
                    run_annotators(profile, args.annotators[0], args.seconds, None, scratch / "annotators.log"),
                    strict=True,
                )
            ),
            daemon=True,
        )
        t0 = time.monotonic()
        annotators.start()
        side.start()
        event(f"{args.annotators[0]} annotators started; import in {0.1 * args.seconds:.0f} s; exports")
        schedule = [(args.kill_at, "kill")] + ([(args.redis_restart_at, "redis")] if restart_redis else [])
        for share, what in sorted(schedule):
            time.sleep(max(0.0, t0 + share * args.seconds - time.monotonic()))
            if what == "kill":
                name = args.kill_worker or next(iter(processes.workers))
                processes.kill_worker(name)
                event(f"worker {name!r} SIGKILLed with all its processes")
                time.sleep(2.0)
                processes.restart_worker(name)
                event(f"worker {name!r} restarted")
            else:
                event("Redis shutting down (nosave)")
                event(f"Redis back after {redis_restart():.1f} s")
        annotators.join()
        event("annotators done")
        available = open_available(install.project_id, start.max_item_id)
        lines, figures = phase_report(install, outcome["result"], outcome["wall"], start, processes, available)
        side.stop(wait_s=args.settle_s)
        left, waited = settle(install.project_id, args.settle_s)
        event(f"settled after {waited:.0f} s more")
        print("\n".join(lines + side.report()))
        print(f"  RSS (max per process): {sampler.report()}")
        n_5xx = _count_5xx(processes, start.log_offset)
        checks = {
            "false empty answers": figures["false_empty"],
            "duplicates": figures["duplicates"],
            "lost submits": figures["lost"],
            "5xx other than 503": n_5xx["other"],
            "jobs left queued or running": sum(
                n for by in left.values() for s, n in by.items() if s in ("queued", "running")
            ),
            "jobs failed": sum(n for by in left.values() for s, n in by.items() if s == "failed"),
        }
        print(f"checks (503 answers: {n_5xx['503']}; jobs not done: {left}):")
        for name, value in checks.items():
            print(f"  {'ok  ' if value == 0 else 'FAIL'} {name}: {value}")
        print("\n".join(jobs_not_done(install.project_id)))
        failed = any(checks.values())
    finally:
        sampler.stopped.set()
        processes.stop()
        if args.keep:
            print(f"logs: {scratch}")
        else:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(1 if failed else 0)


def _count_5xx(processes, offset: int) -> dict[str, int]:
    """503 answers and other 5xx answers in the access log after byte `offset`."""
    with open(processes.scratch / "web.log", "rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    n_503 = text.count('" 503 ')
    n_all = sum(text.count(f'" 5{d:02d} ') for d in range(100))
    return {"503": n_503, "other": n_all - n_503}


if __name__ == "__main__":
    main()
