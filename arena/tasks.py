from celery import shared_task

from . import health, ingest


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


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Run by beat on a worker: proves beat, broker and a worker all work, for /healthz."""
    health.record_heartbeat(hostname=heartbeat.request.hostname)


@shared_task(ignore_result=True)
def forget_seen_pairs() -> None:
    from . import battles

    battles.forget_seen_pairs()
