"""The open-loop generator: its fixed schedule, its requests, and its accounting over sockets.

No assertion here depends on how fast anything runs: schedules are pure, and the
generator's outcomes are counted, not timed (its timeouts are far from its answers).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.load.openloop import (
    Generator,
    Planned,
    Requests,
    merge,
    probe_schedule,
    schedule,
)
from tests.load.overload import OverloadSettings, generate
from tests.load.scripted_server import answer, default_script, scripted_server
from tests.load.targets import Target


def test_schedule_has_constant_intervals_and_an_exact_mix() -> None:
    plan = schedule(rate=200, duration=2.5, create_share=0.2)
    assert len(plan) == 500
    gaps = {round(later.at - earlier.at, 9) for earlier, later in itertools.pairwise(plan)}
    assert gaps == {0.005}
    assert plan[0].at == 0.0
    assert plan[-1].at < 2.5
    kinds = [item.kind for item in plan]
    assert kinds.count("create") == 100
    # Spread evenly: every window of five requests holds exactly one create.
    assert all(kinds[n : n + 5].count("create") == 1 for n in range(0, 500, 5))


@pytest.mark.parametrize(("share", "creates"), [(0.0, 0), (1.0, 10), (0.25, 2)])
def test_schedule_mix_at_the_boundaries(share: float, creates: int) -> None:
    plan = schedule(rate=10, duration=1, create_share=share)
    assert len(plan) == 10
    assert sum(item.kind == "create" for item in plan) == creates


@pytest.mark.parametrize(
    ("rate", "duration", "share", "message"),
    [
        (0, 1, 0.2, "rate"),
        (-5, 1, 0.2, "rate"),
        (float("nan"), 1, 0.2, "rate"),
        (float("inf"), 1, 0.2, "rate"),
        (10, 0, 0.2, "duration"),
        (10, -1, 0.2, "duration"),
        (10, 1, 1.5, "create_share"),
        (10, 1, -0.1, "create_share"),
    ],
)
def test_schedule_rejects_impossible_plans(
    rate: float, duration: float, share: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        schedule(rate, duration, share)


def test_schedule_too_short_for_one_request_is_empty() -> None:
    assert schedule(rate=1, duration=0.5, create_share=0.2) == []


def test_probes_are_staggered_and_merged_in_time_order() -> None:
    probes = probe_schedule(rate=2, duration=1, probes=["healthz", "readyz"])
    assert [(p.at, p.kind) for p in probes] == [
        (0.0, "healthz"),
        (0.25, "readyz"),
        (0.5, "healthz"),
        (0.75, "readyz"),
    ]
    merged = merge(schedule(4, 1, 0.0), probes)
    assert [p.at for p in merged] == sorted(p.at for p in merged)
    assert len(merged) == 8


def test_probe_schedule_rejects_unknown_probes_and_allows_none() -> None:
    with pytest.raises(ValueError, match="unknown probes: livez"):
        probe_schedule(rate=1, duration=1, probes=["healthz", "livez"])
    assert probe_schedule(rate=1, duration=1, probes=[]) == []


def test_requests_are_well_formed() -> None:
    requests = Requests(host="127.0.0.1", port=8000, token="t0k", task_ids=["a", "b"], tag="x1")
    port, raw = requests.build("get", 3)
    assert port == 8000
    assert raw.startswith(b"GET /api/v1/tasks/b HTTP/1.1\r\n")
    assert b"Authorization: Bearer t0k\r\n" in raw
    assert raw.endswith(b"\r\n\r\n")
    _, raw = requests.build("create", 7)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body == b'{"title": "overload x1 7"}'
    assert f"Content-Length: {len(body)}".encode() in head
    # Probes: like the kubelet, a new connection each, no credentials.
    metrics = Requests(host="127.0.0.1", port=8000, token="t", task_ids=["a"], metrics_port=9000)
    port, raw = metrics.build("metrics", 1)
    assert port == 9000
    assert b"Connection: close" in raw
    assert b"Authorization" not in raw


def test_requests_refuse_unknown_kinds_and_empty_ids() -> None:
    requests = Requests(host="127.0.0.1", port=1, token="t", task_ids=["a"])
    with pytest.raises(ValueError, match="unknown request kind 'delete'"):
        requests.build("delete", 1)
    with pytest.raises(ValueError, match="at least one task id"):
        Requests(host="127.0.0.1", port=1, token="t", task_ids=[])


async def test_generator_accounts_for_every_planned_request() -> None:
    async with scripted_server() as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a"])
        plan = merge(schedule(100, 0.5, 0.2), probe_schedule(4, 0.5, ["healthz", "metrics"]))
        outcomes = await Generator(requests, timeout=5, probe_timeout=5).run(plan)
    assert [(o.kind, o.at) for o in outcomes] == [(p.kind, p.at) for p in plan]
    assert sum(o.status == 200 for o in outcomes) == 40 + 4
    created = [o.created_id for o in outcomes if o.kind == "create"]
    assert len(created) == 10
    assert all(uuid.UUID(task_id) for task_id in created if task_id)
    assert server.received["POST /api/v1/tasks"] == 10
    assert server.received["GET /healthz"] == 2
    assert all(o.error is None and o.latency_ms is not None for o in outcomes)
    # Keep-alive: the API requests reuse connections; each probe opens its own.
    assert server.connections < 50 + 4


async def test_generator_tells_shed_answers_from_other_failures() -> None:
    async def shedding(method: str, path: str) -> bytes | None:
        if method == "POST":
            return answer(503, "Retry-After: 1", body=b'{"code": "overloaded"}')
        if path == "/readyz":
            return answer(503, body=b"down")  # no Retry-After: an outage, not shedding
        return answer(200, body=b'{"code": "not-a-failure"}')

    async with scripted_server(shedding) as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a"])
        plan = merge(schedule(50, 0.2, 0.5), probe_schedule(5, 0.2, ["readyz"]))
        outcomes = await Generator(requests, timeout=5).run(plan)
    creates = [o for o in outcomes if o.kind == "create"]
    assert {(o.status, o.retry_after, o.problem) for o in creates} == {(503, True, "overloaded")}
    assert all(o.created_id is None for o in creates)
    readyz = [o for o in outcomes if o.kind == "readyz"]
    assert {(o.status, o.retry_after, o.problem) for o in readyz} == {(503, False, None)}
    # Only failures are read for a problem code.
    assert {o.problem for o in outcomes if o.status == 200} == {None}


async def test_generator_times_out_a_server_that_never_answers() -> None:
    async def hanging(method: str, path: str) -> bytes | None:
        if path.endswith("/slow"):
            await asyncio.sleep(30)
        return answer(200)

    async with scripted_server(hanging) as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a", "slow"])
        outcomes = await Generator(requests, timeout=0.5).run(schedule(10, 0.4, 0.0))
    assert [o.error for o in outcomes] == [None, "timeout", None, "timeout"]
    assert [o.status for o in outcomes] == [200, None, 200, None]
    assert all(o.latency_ms is None for o in outcomes if o.error)


async def test_generator_counts_refused_and_dropped_connections() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]  # bound, never listening: refused
        refused = Requests(host="127.0.0.1", port=closed_port, token="t", task_ids=["a"])
        outcomes = await Generator(refused, timeout=5).run(schedule(20, 0.1, 0.0))
    assert [o.error for o in outcomes] == ["connect", "connect"]

    async def dropping(method: str, path: str) -> bytes | None:
        return None if path.endswith("/drop") else await default_script(method, path)

    async with scripted_server(dropping) as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["drop", "a"])
        outcomes = await Generator(requests, timeout=5).run(schedule(20, 0.2, 0.0))
    assert [o.error for o in outcomes] == ["closed", None, "closed", None]


async def test_generator_stops_opening_connections_at_its_limit() -> None:
    async def slow(method: str, path: str) -> bytes | None:
        await asyncio.sleep(0.5)
        return answer(200)

    async with scripted_server(slow) as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a"])
        generator = Generator(requests, timeout=5, max_connections=2)
        outcomes = await generator.run([Planned(0.0, "get")] * 5)
    assert sorted(str(o.error) for o in outcomes) == ["None", "None"] + ["client_limit"] * 3
    assert generator.open_connections == 0


async def test_the_generator_process_writes_every_outcome(tmp_path: Path) -> None:
    token, ids = tmp_path / "token", tmp_path / "ids"
    token.write_text("t0k\n")
    ids.write_text("a\nb\n")
    settings = OverloadSettings(duration=0.4, probe_rate=5, timeout=5, probe_timeout=5)
    async with scripted_server() as server:
        target = Target(
            name="scripted", argv=[], env={}, log_path=tmp_path / "log", port=server.port
        )
        outcomes, generator_cpu = await asyncio.to_thread(
            generate,
            settings,
            target,
            rate=50,
            token_file=token,
            ids_file=ids,
            tag="t1",
            output=tmp_path / "outcomes.jsonl",
        )
    kinds = [o.kind for o in outcomes]
    assert generator_cpu > 0, "the generator's own CPU is measured"
    assert (kinds.count("get"), kinds.count("create")) == (16, 4)
    assert (kinds.count("healthz"), kinds.count("readyz"), kinds.count("metrics")) == (2, 2, 2)
    assert all(o.status in {200, 201} for o in outcomes)
    assert server.received["GET /api/v1/tasks/a"] == server.received["GET /api/v1/tasks/b"] == 8


async def test_the_generator_process_fails_loudly_on_bad_input(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    (tmp_path / "ids").write_text("")  # no task to read
    target = Target(name="nothing", argv=[], env={}, log_path=tmp_path / "log", port=1)
    with pytest.raises(subprocess.CalledProcessError):
        await asyncio.to_thread(
            generate,
            OverloadSettings(duration=0.1),
            target,
            rate=10,
            token_file=tmp_path / "token",
            ids_file=tmp_path / "ids",
            tag="t2",
            output=tmp_path / "outcomes.jsonl",
        )


async def test_generator_warms_up_keep_alive_connections_and_uses_them() -> None:
    async with scripted_server() as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a"])
        generator = Generator(requests, timeout=5, warm_connections=3)
        outcomes = await generator.run(schedule(40, 0.2, 0.0))
    assert [o.status for o in outcomes] == [200] * 8
    assert server.connections == 3, "the schedule ran on the warmed connections only"
    assert generator.open_connections == 0


async def test_generator_warm_up_stays_within_its_connection_limit() -> None:
    async with scripted_server() as server:
        requests = Requests(host="127.0.0.1", port=server.port, token="t", task_ids=["a"])
        generator = Generator(requests, timeout=5, max_connections=2, warm_connections=5)
        outcomes = await generator.run(schedule(20, 0.1, 0.0))
    assert [o.status for o in outcomes] == [200, 200]
    assert server.connections == 2
    assert generator.open_connections == 0


async def test_generator_warm_up_fails_loudly_when_the_server_refuses() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = Requests(
            host="127.0.0.1", port=unused.getsockname()[1], token="t", task_ids=["a"]
        )
        with pytest.raises(ConnectionRefusedError):
            await Generator(refused, timeout=5, warm_connections=2).run(schedule(20, 0.1, 0.0))
