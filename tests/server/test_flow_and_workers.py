"""Water marks and the earliest-deadline-first worker pool."""

from __future__ import annotations

import threading
import time

import pytest
from parley_server.flow import FlowControl, WaterMarks
from parley_server.workers import WorkerPool, release_free_memory


def test_water_marks_validated() -> None:
    with pytest.raises(ValueError):
        WaterMarks(high_ms=100, low_ms=100)
    with pytest.raises(ValueError):
        WaterMarks(high_ms=100, low_ms=-1)


def test_hysteresis() -> None:
    f = FlowControl(WaterMarks(high_ms=100, low_ms=40))
    f.add(60)
    assert not f.paused
    f.add(60)  # 120 >= 100
    assert f.paused and f.pauses == 1
    assert f.remove(20) is False and f.paused  # 100
    assert f.remove(50) is False and f.paused  # 50 > 40
    assert f.remove(10) is True and not f.paused  # 40 <= 40: resume
    f.add(30)  # 70 < 100
    assert not f.paused
    assert f.remove(1000) is False and f.buffered_ms == 0.0


def test_pool_runs_earliest_deadline_first() -> None:
    pool = WorkerPool(1)
    try:
        gate = threading.Event()
        order: list[int] = []
        blocker = pool.submit(0.0, gate.wait)
        time.sleep(0.05)  # the single worker is now blocked
        futs = [pool.submit(d, lambda d=d: order.append(d)) for d in (5, 3, 9, 1, 4)]
        assert pool.busy == 1 and pool.pending == 5
        gate.set()
        for f in futs + [blocker]:
            f.result(timeout=5)
        assert order == [1, 3, 4, 5, 9]
        assert pool.wait_idle(1.0)
    finally:
        pool.shutdown()


@pytest.mark.parametrize("urgent_s", [0.5, 0.0])
def test_playing_streams_due_soon_go_before_new_ones(urgent_s: float) -> None:
    """A burst of new streams (late jobs: their deadline, the receipt, has passed) must not starve
    a playing stream whose audio runs out within urgent_s; one that is not due yet waits."""
    pool = WorkerPool(1, urgent_s=urgent_s)
    try:
        gate = threading.Event()
        order: list[str] = []
        blocker = pool.submit(0.0, gate.wait)
        time.sleep(0.05)
        now = time.monotonic()
        futs = [
            pool.submit(now - 0.2, lambda: order.append("new-1")),
            pool.submit(now + 30.0, lambda: order.append("playing, due later")),
            pool.submit(now + 0.3, lambda: order.append("playing, due soon")),
            pool.submit(now - 0.1, lambda: order.append("new-2")),
        ]
        gate.set()
        for f in futs + [blocker]:
            f.result(timeout=5)
        if urgent_s:
            assert order == ["playing, due soon", "new-1", "new-2", "playing, due later"]
        else:  # nothing is urgent: the late jobs first, oldest first, then by deadline
            assert order == ["new-1", "new-2", "playing, due soon", "playing, due later"]
    finally:
        pool.shutdown()


def test_urgent_s_is_validated() -> None:
    with pytest.raises(ValueError):
        WorkerPool(1, urgent_s=-0.1)


def test_pool_carries_exceptions_and_drops_cancelled_jobs() -> None:
    pool = WorkerPool(1)
    try:
        gate = threading.Event()
        pool.submit(0.0, gate.wait)
        ran: list[str] = []
        dropped = pool.submit(1.0, lambda: ran.append("dropped"))
        assert dropped.cancel()

        def boom() -> None:
            raise KeyError("boom")

        failing = pool.submit(2.0, boom)
        gate.set()
        with pytest.raises(KeyError):
            failing.result(timeout=5)
        assert pool.wait_idle(1.0)
        assert ran == []
    finally:
        pool.shutdown()


def test_pool_shutdown_joins_threads_and_cancels_pending() -> None:
    pool = WorkerPool(2, name="parley-test-pool")
    gate = threading.Event()
    running = [pool.submit(0.0, gate.wait) for _ in range(2)]
    time.sleep(0.05)
    pending = pool.submit(1.0, lambda: None)
    threading.Timer(0.1, gate.set).start()
    pool.shutdown()
    assert pending.cancelled()
    assert all(f.done() and not f.cancelled() for f in running)
    assert not any(t.is_alive() for t in pool.threads)
    with pytest.raises(RuntimeError):
        pool.submit(0.0, lambda: None)


def test_pool_is_idle_once_a_job_is_seen_done() -> None:
    pool = WorkerPool(2)
    try:
        for i in range(300):
            assert pool.submit(float(i), lambda: None).result(timeout=5) is None
            assert pool.busy == 0 and pool.pending == 0
        assert pool.completed == 300
    finally:
        pool.shutdown()


def test_idle_hook_runs_once_per_burst_after_the_last_job() -> None:
    calls: list[tuple[int, int]] = []
    gate = threading.Event()
    pool: WorkerPool

    def hook() -> None:
        calls.append((pool.busy, pool.pending))

    pool = WorkerPool(2, on_idle=hook)
    try:
        futs = [pool.submit(float(i), gate.wait) for i in range(5)]
        time.sleep(0.05)
        assert calls == []  # nothing finished yet
        gate.set()
        for f in futs:
            f.result(timeout=5)
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls and all(c == (0, 0) for c in calls)  # only ever called with the pool idle
        assert len(calls) <= 2  # once per time the pool falls idle, not once per job
    finally:
        pool.shutdown()


def test_idle_hook_errors_do_not_stop_the_pool() -> None:
    def hook() -> None:
        raise RuntimeError("boom")

    pool = WorkerPool(1, on_idle=hook)
    try:
        assert pool.submit(0.0, lambda: 1).result(timeout=5) == 1
        assert pool.submit(0.0, lambda: 2).result(timeout=5) == 2
    finally:
        pool.shutdown()


def test_release_free_memory_runs_on_this_platform() -> None:
    # glibc (the Debian/Ubuntu machines Parley targets) has malloc_trim; elsewhere it is a no-op.
    import platform

    ok = release_free_memory()
    assert ok is (platform.libc_ver()[0] == "glibc")


def test_heavy_jobs_never_take_every_thread() -> None:
    pool = WorkerPool(2)  # max_heavy defaults to threads - 1 = 1
    gate = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def job(name: str, wait: bool) -> str:
        with lock:
            running.append(name)
        if wait:
            gate.wait(5)
        return name

    try:
        assert pool.max_heavy == 1
        h1 = pool.submit(0.0, lambda: job("h1", True), heavy=True)
        h2 = pool.submit(0.1, lambda: job("h2", True), heavy=True)
        time.sleep(0.05)
        assert pool.heavy_busy == 1 and running == ["h1"]  # h2 waits although a thread is free
        light = pool.submit(9.0, lambda: job("light", False))  # later deadline, still runs now
        assert light.result(timeout=2) == "light"
        assert not h2.done()
        gate.set()
        assert h1.result(timeout=5) == "h1" and h2.result(timeout=5) == "h2"
        assert running.index("light") < running.index("h2")
    finally:
        gate.set()
        pool.shutdown()


def test_heavy_limit_is_validated_and_one_thread_still_runs_heavy_jobs() -> None:
    with pytest.raises(ValueError):
        WorkerPool(2, max_heavy=0)
    with pytest.raises(ValueError):
        WorkerPool(2, max_heavy=3)
    pool = WorkerPool(1)
    try:
        assert pool.max_heavy == 1
        assert pool.submit(0.0, lambda: 7, heavy=True).result(timeout=5) == 7
        assert pool.wait_idle(1.0)
    finally:
        pool.shutdown()


def test_shutdown_cancels_pending_heavy_jobs() -> None:
    pool = WorkerPool(2)
    gate = threading.Event()
    first = pool.submit(0.0, lambda: gate.wait(5), heavy=True)
    waiting = pool.submit(0.0, lambda: None, heavy=True)
    time.sleep(0.05)
    assert pool.pending == 1  # the second heavy job waits for the first
    threading.Timer(0.2, gate.set).start()
    pool.shutdown()
    assert waiting.cancelled() and first.result(timeout=1) is True
