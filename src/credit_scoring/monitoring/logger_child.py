"""Entry point of a worker's request-logger process: signals and CPU priority set before anything is imported.

At a service's shutdown the process manager (circus) sends SIGTERM to the worker's children as well,
possibly while this process is still importing whylogs and pandas (about two seconds): ignoring the
signals keeps it alive until the worker has handed over its last records and says stop. The worker
starts it with these signals blocked, so one sent before this code runs waits, and is then ignored.

The priority is per thread on Linux and inherited only by threads started later: lowered after the
imports, it left the threads they start (OpenBLAS, pyarrow's jemalloc) and the seconds of importing at
the worker's priority, competing with the requests of a server that had just started.
"""

import json
import logging
import os
import signal

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
SETTINGS_VARIABLE = "CREDIT_LOGGER_PROCESS_SETTINGS"  # the worker's MonitoringSettings, as JSON


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
    from credit_scoring.monitoring.logger_process import app

    app()  # exits the process with the command's code


if __name__ == "__main__":
    run()
