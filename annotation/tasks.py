from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_import(job_id: int) -> None:
    from annotation.jobs import import_job_execute

    import_job_execute(job_id=job_id)


@shared_task(acks_late=True, soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT)
def run_export(job_id: int) -> None:
    from annotation.jobs import export_job_execute

    export_job_execute(job_id=job_id)
