"""Entry point of an ingest process: signals and CPU priority set before anything heavy is imported.

Each API worker starts one (``python -m credit_scoring.recording.ingest_process``); they take turns on a
host-wide lock, so one ingests while the others wait to take over the moment it dies. At a service's
shutdown the process manager (circus) signals the worker's children too, possibly while this process is
still importing: ignoring SIGINT and SIGTERM keeps it alive until its worker says stop (a line on stdin,
or its end when the worker is gone). The priority is per thread on Linux and inherited only by threads
started later, so it is lowered before the imports (pyarrow's and OpenBLAS's threads included).
"""

import json
import logging
import os
import signal

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
SETTINGS_VARIABLE = "CREDIT_INGEST_SETTINGS"  # the worker's MonitoringSettings, as JSON
KEY_VARIABLE = "CREDIT_INGEST_KEY"  # the worker's pseudonymisation key


def lower_priority(priority: str) -> None:
    """``idle``: run only on CPU time nothing else wants (SCHED_IDLE); ``low``: nice 19; ``normal``: as
    the worker. A system refusing SCHED_IDLE gets nice 19."""
    if priority == "normal":
        return
    os.nice(19 - os.nice(0))
    if priority == "idle":
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError) as error:
            logging.getLogger(__name__).warning("SCHED_IDLE refused; running at nice 19: %r", error)


def configured_priority() -> str:
    """The ``monitoring_priority`` of the settings the worker handed over (read without pydantic)."""
    return json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}").get("monitoring_priority", "idle")


def run() -> None:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    lower_priority(configured_priority())
    from credit_scoring.recording.ingest_service import app

    app()  # exits the process with the command's code


if __name__ == "__main__":
    run()
