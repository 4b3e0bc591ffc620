"""Writes for users, API tokens, worker heartbeats and broker probes."""

import hashlib
import os
import secrets
import socket
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound
from core.models import ApiToken, BrokerProbe, User, WorkerHeartbeat

TOKEN_PREFIX = "loupe_"


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token and its key; the key is returned this once and never stored."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[: len(TOKEN_PREFIX) + 6], digest=api_token_digest(key), expires_at=expires_at
    )
    return token, key


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, id=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def user_create(
    *, username: str, password: str, email: str = "", first_name: str = "", last_name: str = "", is_staff: bool = False
) -> User:
    """A new user (admins only reach this). The password must pass the configured validators."""
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"A user named {username!r} already exists.", field="username")
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, is_staff=is_staff)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


def worker_heartbeat_record(*, hostname: str, pid: int, queues: list[str], starting: bool = False) -> None:
    now = timezone.now()
    defaults = {"pid": pid, "last_seen_at": now, "stopped_at": None, "queues": ",".join(sorted(queues))}
    if starting:
        defaults["started_at"] = now
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults=defaults, create_defaults={**defaults, "started_at": now}
    )


def worker_heartbeat_stop(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname).update(stopped_at=timezone.now())


def broker_probe_send() -> BrokerProbe:
    """Record a probe and send it through the broker once the row is committed."""
    from core.tasks import receive_broker_probe

    probe = BrokerProbe.objects.create()
    transaction.on_commit(lambda: receive_broker_probe.delay(probe.id))
    return probe


def broker_probe_receive(*, probe_id: int) -> None:
    """Idempotent: a redelivered probe keeps its first receipt."""
    BrokerProbe.objects.filter(id=probe_id, received_at__isnull=True).update(
        received_at=timezone.now(), received_by=f"{socket.gethostname()}:{os.getpid()}"
    )
