"""gunicorn's logger, routed through the tasks-api logging pipeline."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger


class StructlogGunicornLogger(Logger):  # type: ignore[misc]
    """Keeps gunicorn's interface but sends its records to the root (structlog) handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers = []
            log.propagate = True
        self.access_log.disabled = True
        self.error_log.setLevel(logging.getLevelName(cfg.loglevel.upper()))
