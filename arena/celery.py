"""The Celery application. Tasks live in each app's tasks.py and stay thin adapters."""

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")

app = Celery("arena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _heartbeat_on_start(sender, **kwargs) -> None:  # noqa: ANN001, ARG001
    # A fresh worker shows in /healthz at once, not only after the first beat.
    from arena import health

    health.record_heartbeat(hostname=getattr(sender, "hostname", None))


@worker_process_init.connect
def _load_kernels(**kwargs) -> None:  # noqa: ANN003, ARG001
    # Each pool process compiles (first run after an install) or loads the kernels that update
    # the bootstrap now, not in its first incremental recompute.
    from arena import resample

    resample.warm_up()
