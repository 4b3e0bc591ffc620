from celery import shared_task


@shared_task(acks_late=True, soft_time_limit=60)
def deliver_webhook(delivery_id: int) -> None:
    from integrations.services import delivery_execute

    delivery_execute(delivery_id=delivery_id)


@shared_task(soft_time_limit=60, time_limit=90)
def resend_pending_webhooks() -> int:
    from integrations.services import pending_resend

    return pending_resend()
