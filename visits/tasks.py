"""Celery tasks of the visits app. Thin: load by id and call the service."""

from celery import shared_task

from .importing import visit_import_run


@shared_task(name="visits.run_visit_import", acks_late=True)
def run_visit_import(job_id: int) -> None:
    """Run one EHR visit import job; a redelivered message finds the job finished and does nothing."""
    visit_import_run(job_id=job_id)
