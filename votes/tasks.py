from celery import shared_task

from . import releases


@shared_task(acks_late=True, ignore_result=True)
def build_dataset_release() -> None:
    # Idempotent: a re-delivered run (its worker died after the release committed, before
    # the acknowledgement) or a night without new votes adds no identical release.
    if releases.latest_is_current():
        return
    releases.create_release()


@shared_task(acks_late=True, ignore_result=True)
def scan_voters() -> None:
    from . import scanning

    scanning.scan()
