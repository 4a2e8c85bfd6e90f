"""Multiprocess metric values that learn of a fork once, not on every access.

prometheus_client's multiprocess value asks for the process id on every
`inc`, `set` and `get` (a system call, and on a hot request path ~20 of them
per request), to notice that it runs in a forked child and must write to a
file of its own pid. Here an `os.register_at_fork` hook does that once, in the
child, right after the fork and before any other Python code of the child
runs. Everything else is as in prometheus_client: the same files
(`<kind>_<pid>.db`, the MmapedDict layout), the same keys, the same values,
so the master's merge (service.telemetry.prometheus) and the archive folding
read them unchanged.

Only `os.fork()` runs the hook; a process started otherwise (spawn, exec)
imports its modules afresh and gets its own pid from the start.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from prometheus_client import values as prometheus_values
from prometheus_client.mmap_dict import MmapedDict, mmap_key

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def fork_aware_value_class() -> type[Any]:
    """A prometheus_client value class for multiprocess mode, told of forks by a hook."""
    files: dict[str, MmapedDict] = {}
    created: list[ForkAwareValue] = []
    # One lock per process for all values, as in prometheus_client; the exporter
    # threads count their failures too.
    pid = os.getpid()
    lock = threading.Lock()

    def file_for(prefix: str) -> MmapedDict:
        if (found := files.get(prefix)) is None:
            path = os.path.join(os.environ[MULTIPROC_ENV], f"{prefix}_{pid}.db")
            found = files[prefix] = MmapedDict(path)  # type: ignore[no-untyped-call]
        return found

    def close_files() -> None:
        for mapped in files.values():
            mapped.close()  # type: ignore[no-untyped-call]
        files.clear()

    def after_fork_in_child() -> None:
        # The parent's lock may have been held by another of its threads: a new one.
        nonlocal pid, lock
        pid = os.getpid()
        lock = threading.Lock()
        close_files()
        for value in created:
            value.reset()

    def cleanup() -> None:
        with lock:
            close_files()
            created.clear()

    os.register_at_fork(after_in_child=after_fork_in_child)
    prometheus_values._multi_process_cleanups.append(cleanup)

    class ForkAwareValue:
        """A float stored in this process's mmapped file of its metric kind."""

        _multiprocess = True
        fork_aware = True

        def __init__(  # noqa: PLR0917 - prometheus_client's signature
            self,
            typ: str,
            metric_name: str,
            name: str,
            labelnames: Any,
            labelvalues: Any,
            help_text: str,
            multiprocess_mode: str = "",
            **kwargs: Any,
        ) -> None:
            self._prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
            self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
            with lock:
                self.reset()
                created.append(self)

        def reset(self) -> None:
            """Point at this process's file (the lock is held, or no other thread runs)."""
            self._file = file_for(self._prefix)
            self._value, self._timestamp = self._file.read_value(self._key)  # type: ignore[no-untyped-call]

        def inc(self, amount: float) -> None:
            with lock:
                self._value += amount
                self._timestamp = 0.0
                self._file.write_value(self._key, self._value, 0.0)  # type: ignore[no-untyped-call]

        def set(self, value: float, timestamp: float | None = None) -> None:
            with lock:
                self._value = value
                self._timestamp = timestamp or 0.0
                self._file.write_value(self._key, value, self._timestamp)  # type: ignore[no-untyped-call]

        def set_exemplar(self, exemplar: Any) -> None:
            """Exemplars are not stored in multiprocess mode (as in prometheus_client)."""

        def get(self) -> float:
            with lock:
                return float(self._value)

        def get_exemplar(self) -> None:
            return None

        @classmethod
        def close_all_files(cls) -> None:
            cleanup()

    return ForkAwareValue
