from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_embed(run_id: int) -> None:
    from active_learning.training import embed_run_execute

    embed_run_execute(run_id=run_id)


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_map(run_id: int) -> None:
    from active_learning.training import map_draw_execute

    map_draw_execute(run_id=run_id)


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_rank(run_id: int) -> None:
    from active_learning.training import rank_run_execute

    rank_run_execute(run_id=run_id)


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_simulate(run_id: int) -> None:
    from active_learning.training import simulate_run_execute

    simulate_run_execute(run_id=run_id)
