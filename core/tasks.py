from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def receive_broker_probe(probe_id: int) -> None:
    from core.services import broker_probe_receive

    broker_probe_receive(probe_id=probe_id)


@shared_task(soft_time_limit=60, time_limit=90)
def requeue_stale_jobs() -> int:
    from core.jobs import jobs_requeue_stale

    return jobs_requeue_stale()
