from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person who can log in. There is no sign-up: admins create users, or managers invite them."""


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A personal API token for scripts. Only its SHA-256 digest is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to recognise it in a list.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class WorkerHeartbeat(models.Model):
    """One row per Celery worker process, touched every WORKER_HEARTBEAT_INTERVAL while it runs."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    queues = models.CharField(max_length=1000, blank=True, help_text="The queues it consumes, comma-separated.")

    def __str__(self) -> str:
        return self.hostname

    @property
    def queue_names(self) -> list[str]:
        return [name for name in self.queues.split(",") if name]


class BrokerProbe(models.Model):
    """A message sent through the broker to prove that some worker consumes the queue end to end."""

    sent_at = models.DateTimeField(auto_now_add=True)
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.CharField(max_length=255, blank=True)


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BackgroundJob(models.Model):
    """Work the web process asks for and a worker does (imports, exports, learning runs), claimed and fenced
    by core.jobs. `sent_at`: when its task message last went to the broker (null: never), so the requeue
    sweep re-sends what was never sent or was lost, without flooding a busy queue."""

    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    failure = models.TextField(blank=True)  # why it failed, in words for the person who asked
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_orphaned(self) -> bool:
        """Running, but silent past the lease: its worker died, and the requeue sweep hands it to another."""
        lease = timezone.now() - settings.JOB_LEASE
        return self.status == JobStatus.RUNNING and self.heartbeat_at is not None and self.heartbeat_at < lease

    @property
    def task_name(self) -> str:
        """The Celery task that runs this row (its id is the only argument)."""
        raise NotImplementedError

    @classmethod
    def sweepable(cls) -> models.Q:
        """The rows a worker runs (and the requeue sweep may re-send); all of them unless a kind says otherwise."""
        return models.Q()
