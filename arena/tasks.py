from celery import shared_task

from . import ingest


@shared_task(acks_late=True)
def ingest_clip(clip_id: int) -> None:
    ingest.process_clip(clip_id)
