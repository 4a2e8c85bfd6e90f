"""Business domains; each sub-package is discovered (routes.py, models.py)."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

from fastapi import APIRouter

API_PREFIX = "/api/v1"


def _domain_modules(module: str) -> list[ModuleType]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda item: item.name):
        if not info.ispkg:
            continue
        name = f"{__name__}.{info.name}.{module}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def load_models() -> None:
    """Import every domain's models so that Base.metadata knows all tables."""
    _domain_modules("models")


def discover_routers() -> list[APIRouter]:
    """The `router` of every domain's routes module, in name order.

    A routes module without an APIRouter named `router` stops start-up: its
    endpoints would otherwise be missing without a word.
    """
    routers = []
    for module in _domain_modules("routes"):
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            raise TypeError(f"{module.__name__} defines no APIRouter named `router`")
        routers.append(router)
    return routers
