"""Password work admission: a slot is given back only once its hashing thread is done.

A cancelled login (the client went away) must not free its slot while its hash still
runs in the pool, or abandoned requests would keep more hashes running than the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from service.core import security

# Long enough for any thread to start and the event loop to react; the gates never wait it out.
GATE_SECONDS = 5.0


class Gate:
    """A stand-in hash that runs until the test opens the gate (or raises, if told to)."""

    every: ClassVar[list[Gate]] = []

    def __init__(self, *, fails: bool = False) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()
        self.finished = threading.Event()
        self.fails = fails
        Gate.every.append(self)

    def __call__(self) -> str:
        self.started.set()
        try:
            if not self.opened.wait(GATE_SECONDS):
                raise TimeoutError("the test never opened the gate")
            if self.fails:
                raise ValueError("the stand-in hash failed")
            return "hashed"
        finally:
            self.finished.set()


@pytest.fixture(autouse=True)
def _one_thread_one_waiting() -> Iterator[None]:
    # One hashing thread and one request waiting for it: two slots in all.
    security.configure_password_hashing(1, 1)
    yield
    # A failed test leaves no stand-in hash holding the thread for the next one.
    for gate in Gate.every:
        gate.opened.set()
    Gate.every.clear()
    security.configure_password_hashing(1)


async def _hash_within_work(work: Callable[[], str]) -> str:
    async with security.password_work():
        result: str = await security._in_hash_pool(work)
        return result


async def _started(gate: Gate) -> None:
    assert await asyncio.to_thread(gate.started.wait, GATE_SECONDS), "the hash never started"


async def _admitted() -> bool:
    try:
        async with security.password_work():
            return True
    except security.PasswordWorkBusyError:
        return False


async def _slots_free() -> int:
    # How many slots are granted now before the next one is refused; all are given back.
    async with contextlib.AsyncExitStack() as stack:
        for granted in range(3):
            try:
                await stack.enter_async_context(security.password_work())
            except security.PasswordWorkBusyError:
                return granted
    return 3


async def _eventually_admitted_twice() -> None:
    # The hashing thread hands its end to the event loop: a few iterations later at most.
    for _ in range(int(GATE_SECONDS / 0.01)):
        if await _slots_free() == 2:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the slots were not given back once the hashes finished")


async def _cancelled(task: asyncio.Task[str]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_request_keeps_its_slot_until_its_hash_finishes() -> None:
    first, second = Gate(), Gate()
    running = asyncio.create_task(_hash_within_work(first))
    await _started(first)
    await _cancelled(running)

    # The request is gone, its hash is not: its slot is still taken.
    waiting = asyncio.create_task(_hash_within_work(second))
    await asyncio.sleep(0)
    assert not await _admitted(), "a slot was freed while its hash still ran"

    first.opened.set()
    await _started(second)
    second.opened.set()
    assert await waiting == "hashed"
    await _eventually_admitted_twice()


async def test_the_slot_comes_back_once_the_abandoned_hash_is_done() -> None:
    gate = Gate()
    running = asyncio.create_task(_hash_within_work(gate))
    await _started(gate)
    await _cancelled(running)
    assert await _slots_free() == 1, "the cancelled request's slot was given back early"

    gate.opened.set()
    assert await asyncio.to_thread(gate.finished.wait, GATE_SECONDS)
    await _eventually_admitted_twice()


async def test_a_cancelled_request_starts_no_hash_that_is_still_queued() -> None:
    busy, queued = Gate(), Gate()
    running = asyncio.create_task(_hash_within_work(busy))
    await _started(busy)
    waiting = asyncio.create_task(_hash_within_work(queued))
    await asyncio.sleep(0.05)  # its hash waits for the only thread
    await _cancelled(waiting)

    # Its hash never ran, so its slot is free at once, while the other one still hashes.
    assert await _slots_free() == 1
    busy.opened.set()
    assert await running == "hashed"
    await _eventually_admitted_twice()
    assert not queued.started.is_set(), "the hash of a cancelled request was started"


async def test_a_failing_hash_gives_its_slot_back() -> None:
    gate = Gate(fails=True)
    gate.opened.set()

    with pytest.raises(ValueError, match="stand-in hash failed"):
        await _hash_within_work(gate)

    assert await _slots_free() == 2


async def test_a_cancelled_request_whose_hash_then_fails_gives_its_slot_back() -> None:
    gate = Gate(fails=True)
    running = asyncio.create_task(_hash_within_work(gate))
    await _started(gate)
    await _cancelled(running)
    assert await _slots_free() == 1

    gate.opened.set()
    await _eventually_admitted_twice()


async def test_a_finished_hash_gives_its_slot_back_at_once() -> None:
    gate = Gate()
    gate.opened.set()

    assert await _hash_within_work(gate) == "hashed"

    assert await _slots_free() == 2


async def test_a_request_already_cancelled_starts_no_hash() -> None:
    gate = Gate()
    gate.opened.set()

    async def cancelled_before_hashing() -> str:
        async with security.password_work():
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            # Swallowed, as a careless layer might: the request is still cancelled.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)
            result: str = await security._in_hash_pool(gate)
            return result

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(cancelled_before_hashing())

    assert not gate.started.is_set()
    assert await _slots_free() == 2
