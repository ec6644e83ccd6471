"""One load per key at a time, shared by the callers that arrive while it runs."""

from __future__ import annotations

import asyncio

import pytest

from wispanel.auth.shared_loads import SharedLoads


class Source:
    """A load that waits until the test releases it, and counts how often it ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.stored: dict[str, str] = {}

    async def load(self, key: str) -> str:
        self.calls.append(key)
        number = len(self.calls)
        await self.release.wait()
        return f"value of {key} #{number}"

    def store(self, key: str, value: str) -> None:
        self.stored[key] = value


async def _started(*tasks: asyncio.Task[str]) -> None:
    # Let the tasks run until they wait on the load.
    for _ in range(3):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


def test_concurrent_callers_share_one_load() -> None:
    async def run() -> None:
        loads: SharedLoads[str, str] = SharedLoads()
        source = Source()
        tasks = [asyncio.create_task(loads.get("a", source.load, source.store)) for _ in range(5)]
        other = asyncio.create_task(loads.get("b", source.load, source.store))
        await _started(*tasks, other)
        source.release.set()
        values = await asyncio.gather(*tasks)
        assert values == ["value of a #1"] * 5
        assert await other == "value of b #2"
        assert source.calls == ["a", "b"]
        assert source.stored == {"a": "value of a #1", "b": "value of b #2"}
        # Once a load is over, the next caller starts a new one.
        assert await loads.get("a", source.load, source.store) == "value of a #3"

    asyncio.run(run())


def test_cancelled_caller_leaves_load_running() -> None:
    async def run() -> None:
        loads: SharedLoads[str, str] = SharedLoads()
        source = Source()
        first = asyncio.create_task(loads.get("a", source.load, source.store))
        second = asyncio.create_task(loads.get("a", source.load, source.store))
        await _started(first, second)
        first.cancel()
        source.release.set()
        assert await second == "value of a #1"
        assert first.cancelled()
        assert source.stored == {"a": "value of a #1"}

    asyncio.run(run())


def test_forget_detaches_running_load() -> None:
    async def run() -> None:
        loads: SharedLoads[str, str] = SharedLoads()
        source = Source()
        before = asyncio.create_task(loads.get("a", source.load, source.store))
        await _started(before)
        loads.forget("a")
        after = asyncio.create_task(loads.get("a", source.load, source.store))
        await _started(after)
        source.release.set()
        assert await before == "value of a #1"
        assert await after == "value of a #2"
        # Only the load that started after `forget` may fill the cache.
        assert source.stored == {"a": "value of a #2"}

    asyncio.run(run())


def test_forget_all_detaches_every_load() -> None:
    async def run() -> None:
        loads: SharedLoads[str, str] = SharedLoads()
        source = Source()
        tasks = [asyncio.create_task(loads.get(key, source.load, source.store)) for key in "ab"]
        await _started(*tasks)
        loads.forget_all()
        source.release.set()
        assert await asyncio.gather(*tasks) == ["value of a #1", "value of b #2"]
        assert source.stored == {}

    asyncio.run(run())


def test_failed_load_raises_for_every_caller() -> None:
    async def run() -> None:
        loads: SharedLoads[str, str] = SharedLoads()
        release = asyncio.Event()
        calls = 0

        async def failing(key: str) -> str:
            nonlocal calls
            calls += 1
            await release.wait()
            raise ConnectionError(f"database unreachable for {key}")

        stored: dict[str, str] = {}
        tasks = [asyncio.create_task(loads.get("a", failing, stored.__setitem__)) for _ in range(3)]
        await _started(*tasks)
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(result, ConnectionError) for result in results)
        assert calls == 1
        assert stored == {}
        # The failed load is over: the next caller tries again.
        release.clear()
        retry = asyncio.create_task(loads.get("a", failing, stored.__setitem__))
        await _started(retry)
        release.set()
        with pytest.raises(ConnectionError):
            await retry
        assert calls == 2

    asyncio.run(run())
