"""What a drill is: its kind, how much of the traffic it hits, and until when."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from service.core.validation import StrictInput, UtcTimestamp


class DrillKind(StrEnum):
    """What a drill injects."""

    LATENCY = "latency"
    ERROR = "error"
    READINESS = "readiness"


@dataclass(frozen=True, slots=True)
class Drill:
    """A started drill, as the workers read it on every request it may hit."""

    id: str
    kind: DrillKind
    fraction: float
    started_at: float  # Unix time: every worker of a pod shares the clock
    ends_at: float
    latency_seconds: float | None = None
    status: int | None = None

    @property
    def marker(self) -> str:
        """How an injected answer names this drill (header and log field)."""
        return f"{self.kind}={self.id}"

    def to_json(self) -> dict[str, Any]:
        """The drill as stored in the shared file."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Drill:
        """A drill read back from the shared file."""
        return cls(**{**data, "kind": DrillKind(data["kind"])})


InjectedStatus = Literal[500, 502, 503, 504]


class DrillRequest(StrictInput):
    """What to inject, into which share of the requests, for how long."""

    kind: DrillKind = Field(strict=False, examples=["error"])
    duration_seconds: int = Field(
        ge=1,
        examples=[900],
        description="How long the drill lasts; at most DRILLS_MAX_DURATION_SECONDS.",
    )
    fraction: float = Field(
        default=1.0,
        gt=0,
        le=1,
        examples=[0.2],
        description="Share of the requests it hits: API requests, or /readyz for `readiness`.",
    )
    latency_seconds: float | None = Field(
        default=None, gt=0, le=30, examples=[0.3], description="Added latency (`latency` only)."
    )
    status: InjectedStatus | None = Field(
        default=None, examples=[500], description="Status of injected answers (`error` only, 500)."
    )

    @model_validator(mode="after")
    def _fits_the_kind(self) -> Self:
        if self.kind is DrillKind.LATENCY and self.latency_seconds is None:
            raise ValueError("a latency drill needs latency_seconds")
        if self.kind is not DrillKind.LATENCY and self.latency_seconds is not None:
            raise ValueError("latency_seconds applies to latency drills only")
        if self.kind is not DrillKind.ERROR and self.status is not None:
            raise ValueError("status applies to error drills only")
        return self


class DrillOut(BaseModel):
    """A drill as the API shows it."""

    id: str = Field(examples=["4f6c0e5a9b2d4e1f8a7c3b2d1e0f9a8b"])
    kind: DrillKind
    fraction: float = Field(examples=[0.2])
    latency_seconds: float | None = Field(default=None, examples=[None])
    status: int | None = Field(default=None, examples=[500])
    started_at: UtcTimestamp
    ends_at: UtcTimestamp
    marker: str = Field(
        examples=["error=4f6c0e5a9b2d4e1f8a7c3b2d1e0f9a8b"],
        description="The X-Drill header value and `drill` log field of its injected answers.",
    )

    @classmethod
    def of(cls, drill: Drill) -> DrillOut:
        """The API view of a drill."""
        return cls(
            id=drill.id,
            kind=drill.kind,
            fraction=drill.fraction,
            latency_seconds=drill.latency_seconds,
            status=drill.status,
            started_at=datetime.fromtimestamp(drill.started_at, UTC),
            ends_at=datetime.fromtimestamp(drill.ends_at, UTC),
            marker=drill.marker,
        )


class DrillList(BaseModel):
    """The drills running now."""

    drills: list[DrillOut]
