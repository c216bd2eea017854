"""The Celery application. Tasks live in each app's tasks.py and stay thin adapters."""

import os
import threading

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
    # Each pool process compiles (first run after an install, ~8 s) or loads (~0.3 s) the
    # kernels that update and refit the bootstrap, so its first incremental recompute need
    # not. On a thread: a process not up within worker_proc_alive_timeout (4 s) is killed.
    from arena import chord, resample

    def warm_up() -> None:
        resample.warm_up()
        chord.warm_up()

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
