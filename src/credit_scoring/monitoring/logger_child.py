"""Entry point of a worker's request-logger process: stop signals are ignored before anything is imported.

At a service's shutdown the process manager (circus) sends SIGTERM to the worker's children as well,
possibly while this process is still importing whylogs and pandas (about two seconds): ignoring the
signals keeps it alive until the worker has handed over its last records and says stop. The worker
starts it with these signals blocked, so one sent before this code runs waits, and is then ignored.
"""

import signal
import sys

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def run() -> int:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    from credit_scoring.monitoring.logger_process import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
