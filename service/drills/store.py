"""The drills of a pod: one JSON file that every worker reads, written under a file lock."""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from starlette.applications import Starlette

from service.drills.errors import DrillActiveError, DrillNotFoundError
from service.drills.model import Drill, DrillKind, DrillRequest

STATE_FILE = "drills.json"
LOCK_FILE = "drills.lock"
REFRESH_SECONDS = 1.0
_KEY = "tasks_api_drills"
DEFAULT_STATUS = 500

log = structlog.get_logger("service.drills")


class DrillStore:
    """Start and end drills in the shared file; read what it holds."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE

    def identity(self) -> tuple[int, int, int] | None:
        """What changes whenever the file is rewritten (None: no file)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def read(self) -> tuple[Drill, ...]:
        """Every stored drill, expired ones included; none if the file is missing or unreadable."""
        try:
            entries = json.loads(self.path.read_text())
            return tuple(Drill.from_json(entry) for entry in entries)
        except FileNotFoundError:
            return ()
        except (OSError, ValueError, TypeError, KeyError) as error:
            # Unreadable state injects nothing: a drill must never outlive its file.
            log.warning("drills_unreadable", error=type(error).__name__)
            return ()

    def start(self, request: DrillRequest, now: float) -> Drill:
        """Store a new drill, unless one of its kind is running (DrillActiveError)."""
        with self._locked():
            running = self.running(now)
            for drill in running:
                if drill.kind is request.kind:
                    raise DrillActiveError(drill)
            drill = Drill(
                id=uuid.uuid4().hex,
                kind=request.kind,
                fraction=request.fraction,
                started_at=now,
                ends_at=now + request.duration_seconds,
                latency_seconds=request.latency_seconds,
                status=request.status or DEFAULT_STATUS
                if request.kind is DrillKind.ERROR
                else None,
            )
            self._write((*running, drill))
            return drill

    def end(self, drill_id: str, now: float) -> Drill:
        """Remove a running drill (DrillNotFoundError if none has this id)."""
        with self._locked():
            running = self.running(now)
            for drill in running:
                if drill.id == drill_id:
                    self._write(tuple(other for other in running if other.id != drill_id))
                    return drill
            raise DrillNotFoundError(drill_id)

    def get(self, drill_id: str, now: float) -> Drill:
        """A running drill (DrillNotFoundError if none has this id)."""
        for drill in self.running(now):
            if drill.id == drill_id:
                return drill
        raise DrillNotFoundError(drill_id)

    def running(self, now: float) -> tuple[Drill, ...]:
        """The stored drills that have not ended by `now`."""
        return tuple(drill for drill in self.read() if drill.ends_at > now)

    def _write(self, drills: tuple[Drill, ...]) -> None:
        # Renamed into place: a worker reads the old file or the new one, never half of one.
        partial = self.directory / f".{STATE_FILE}.partial"
        partial.write_text(json.dumps([drill.to_json() for drill in drills]))
        os.replace(partial, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Workers are processes: a lock file serialises two of them starting drills at once.
        descriptor = os.open(self.directory / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


class ActiveDrills:
    """This worker's view of the pod's drills, re-read at most once a second."""

    def __init__(self, store: DrillStore) -> None:
        self.store = store
        self._current: tuple[Drill, ...] = ()
        self._stored: tuple[Drill, ...] = ()
        self._identity: tuple[int, int, int] | None = None
        self._next_refresh = 0.0

    def in_force(self) -> tuple[Drill, ...]:
        """The drills running now; on the path of every request, so cheap when there are none."""
        if time.monotonic() >= self._next_refresh:
            self.refresh()
        if self._current and any(drill.ends_at <= time.time() for drill in self._current):
            self._current = self._running(time.time())
        return self._current

    def refresh(self) -> None:
        """Re-read the shared file if another worker (or this one) has rewritten it."""
        self._next_refresh = time.monotonic() + REFRESH_SECONDS
        identity = self.store.identity()
        if identity != self._identity:
            self._identity = identity
            self._stored = self.store.read() if identity is not None else ()
        self._current = self._running(time.time())

    def start(self, request: DrillRequest) -> Drill:
        """Start a drill on this pod; this worker applies it at once, the others within a second."""
        drill = self.store.start(request, time.time())
        self.refresh()
        return drill

    def end(self, drill_id: str) -> Drill:
        """End a running drill early."""
        drill = self.store.end(drill_id, time.time())
        self.refresh()
        return drill

    def _running(self, now: float) -> tuple[Drill, ...]:
        return tuple(drill for drill in self._stored if drill.ends_at > now)


def attach_drills(app: Starlette, drills: ActiveDrills) -> None:
    """Keep this worker's drills on the app (once, when drills are installed)."""
    setattr(app.state, _KEY, drills)


def drills_of(app: Starlette) -> ActiveDrills:
    """This worker's view of the pod's drills (an app with drills enabled only)."""
    drills: ActiveDrills = getattr(app.state, _KEY)
    return drills
