from celery import shared_task

from . import releases


@shared_task(acks_late=True, ignore_result=True)
def build_dataset_release() -> None:
    releases.create_release()


@shared_task(acks_late=True, ignore_result=True)
def scan_voters() -> None:
    from . import scanning

    scanning.scan()
