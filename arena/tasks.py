from celery import shared_task

from . import ingest


@shared_task(acks_late=True)
def ingest_clip(clip_id: int) -> None:
    ingest.process_clip(clip_id)


@shared_task(acks_late=True, ignore_result=True)
def recompute_leaderboards() -> None:
    from . import leaderboards

    try:
        leaderboards.recompute()
    except leaderboards.RecomputeBusy:
        pass  # the running one will pick up these votes, or the next beat will
