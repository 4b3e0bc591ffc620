"""A worker bootstep that keeps a WorkerHeartbeat row fresh, with the queues the worker consumes, so the web
process can tell which queues have a live worker without talking to them (the embedded broker has no broadcast
channel for Celery's own ping)."""

import logging
import os

from celery import bootsteps

logger = logging.getLogger(__name__)


class HeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None
        self.queues: list[str] = []

    def start(self, worker):
        from django.conf import settings

        self.queues = sorted(worker.app.amqp.queues.consume_from)  # -Q, or the default queue
        self._beat(worker, starting=True)
        interval = settings.WORKER_HEARTBEAT_INTERVAL.total_seconds()
        self.tref = worker.timer.call_repeatedly(interval, self._beat, (worker,), priority=10)

    def stop(self, worker):
        from core.services import worker_heartbeat_stop

        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        try:
            worker_heartbeat_stop(hostname=worker.hostname)
        except Exception:  # shutting down with the database gone must not hide the real cause
            logger.exception("could not record worker stop")

    def _beat(self, worker, starting: bool = False):
        from django.db import close_old_connections

        from core.services import worker_heartbeat_record

        close_old_connections()
        try:
            worker_heartbeat_record(hostname=worker.hostname, pid=os.getpid(), queues=self.queues, starting=starting)
        except Exception:  # a database blip must not kill the worker; the heartbeat goes stale instead
            logger.exception("worker heartbeat failed")
