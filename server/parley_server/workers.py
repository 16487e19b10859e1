"""A fixed pool of synthesis threads that runs the most urgent job first.

Each streaming request has at most one job outstanding (one ``next()`` of its engine iterator), so
the work queue is bounded by the number of active requests. Jobs carry a deadline — the moment the
request's listener would run out of audio if it played from the first frame in real time — and
the pool runs the earliest deadline first. A request that has not produced its first chunk has the
earliest deadline of all (its receipt time), so first-audio latency stays low under load, while
streams that are ahead of real time yield their turn to those that are not.

Heavy jobs (``submit(..., heavy=True)``: a chunk of a voice that computes seconds of audio in one
call, Kokoro) run on at most ``max_heavy`` threads at once (default: all but one), so a fast
voice's next chunk never waits behind them: with two threads and two Kokoro streams, a heart or
joe stream still has a thread of its own. It also bounds the peak memory of those big calls.

When the pool falls idle, the worker that finished last calls ``on_idle`` (the server passes
:func:`release_free_memory`): glibc keeps the memory freed by each thread in per-thread arenas, so
after a burst of long chunks (Kokoro's activations) the process holds ~100 MB it no longer uses
until ``malloc_trim`` hands it back (3-6 ms, measured; skipped when a job is waiting at that moment).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["WorkerPool", "await_job", "release_free_memory", "wait_uncancellable"]

T = TypeVar("T")
log = logging.getLogger("parley.server.workers")


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)
    except OSError:  # pragma: no cover - no C library to load
        return None
    if trim is None:  # not glibc (musl, macOS): nothing to do
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS (glibc ``malloc_trim(0)``); False where unsupported."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


@dataclass(order=True)
class _Job:
    deadline_s: float
    seq: int
    fn: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)
    heavy: bool = field(default=False, compare=False)


class WorkerPool:
    """``threads`` worker threads pulling jobs earliest-deadline-first.

    submit() returns a :class:`concurrent.futures.Future`; cancelling it before a worker picks the
    job up drops the job. A running job cannot be interrupted: it is one engine chunk of work.
    """

    def __init__(
        self,
        threads: int,
        *,
        name: str = "parley-synth",
        on_idle: Callable[[], object] | None = None,
        max_heavy: int | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if max_heavy is None:
            max_heavy = max(1, threads - 1)
        if not 1 <= max_heavy <= threads:
            raise ValueError(f"max_heavy must be in 1..{threads}, got {max_heavy}")
        self.max_heavy = max_heavy
        self._heavy_heap: list[_Job] = []
        self._heavy_busy = 0
        self._on_idle = on_idle
        self.idle_calls = 0
        self._cv = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._closed = False
        self._busy = 0
        self._completed = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        return tuple(self._threads)

    @property
    def busy(self) -> int:
        """Jobs running right now."""
        with self._cv:
            return self._busy

    @property
    def pending(self) -> int:
        """Jobs waiting for a thread."""
        with self._cv:
            return len(self._heap) + len(self._heavy_heap)

    @property
    def heavy_busy(self) -> int:
        """Heavy jobs running right now (never more than ``max_heavy``)."""
        with self._cv:
            return self._heavy_busy

    @property
    def completed(self) -> int:
        with self._cv:
            return self._completed

    def submit(self, deadline_s: float, fn: Callable[[], T], *, heavy: bool = False) -> Future[T]:
        """Queue ``fn`` to run on a worker thread; smaller ``deadline_s`` (time.monotonic scale) first.
        ``heavy``: one of the long jobs limited to ``max_heavy`` threads at once."""
        fut: Future[T] = Future()
        with self._cv:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            heapq.heappush(
                self._heavy_heap if heavy else self._heap, _Job(deadline_s, next(self._seq), fn, fut, heavy)
            )
            self._cv.notify_all()
        return fut

    def _next_job(self) -> _Job | None:
        """The runnable job with the earliest deadline (lock held), or None."""
        light = self._heap[0] if self._heap else None
        heavy = self._heavy_heap[0] if self._heavy_heap and self._heavy_busy < self.max_heavy else None
        if heavy is not None and (light is None or heavy < light):
            return heapq.heappop(self._heavy_heap)
        if light is not None:
            return heapq.heappop(self._heap)
        return None

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no job is running or pending (True) or ``timeout_s`` passes (False)."""
        end = time.monotonic() + timeout_s
        with self._cv:
            while self._busy or self._heap or self._heavy_heap:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def shutdown(self, *, timeout_s: float | None = 10.0) -> None:
        """Drop pending jobs (their futures are cancelled), let running ones finish, join threads."""
        with self._cv:
            self._closed = True
            dropped, self._heap = self._heap + self._heavy_heap, []
            self._heavy_heap = []
            self._cv.notify_all()
        for job in dropped:
            job.future.cancel()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout_s)

    def _work(self) -> None:
        while True:
            with self._cv:
                job = self._next_job()
                while job is None and not self._closed:
                    self._cv.wait()
                    job = self._next_job()
                if job is None:
                    return  # closed and drained
                if not job.future.set_running_or_notify_cancel():
                    self._cv.notify_all()
                    continue
                self._busy += 1
                self._heavy_busy += job.heavy
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.fn()
            except BaseException as exc:  # carried to the awaiting coroutine, which re-raises it
                error = exc
            # Account first, then complete the future: whoever sees the job done sees the pool idle.
            heavy = job.heavy
            with self._cv:
                self._busy -= 1
                self._heavy_busy -= heavy
                self._completed += 1
                idle = self._on_idle is not None and not (self._busy or self._heap or self._heavy_heap)
                self._cv.notify_all()
            if error is not None:
                job.future.set_exception(error)
                del error
            else:
                job.future.set_result(result)
            del job, result
            if idle:
                self._idle()

    def _idle(self) -> None:
        assert self._on_idle is not None
        try:
            self._on_idle()
            self.idle_calls += 1
        except Exception:  # a hook must never take a worker down
            log.exception("the pool's idle hook failed")


# asyncio side: awaiting jobs without leaving work behind


async def wait_uncancellable(aws: set[asyncio.Future[Any]]) -> None:
    """Wait for every future even if this task is cancelled meanwhile; re-raise the cancellation
    afterwards. Used where leaving early would leave work running behind our back."""
    cancelled = False
    pending = set(aws)
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def await_job(fut: concurrent.futures.Future[T]) -> T:
    """Await a pool job. If the awaiting task is cancelled, a job not started yet is dropped and a
    running one is waited for (a thread cannot be interrupted) before the cancellation goes on."""
    afut = asyncio.wrap_future(fut)
    try:
        return await asyncio.shield(afut)
    except asyncio.CancelledError:
        if not fut.cancel():
            with contextlib.suppress(asyncio.CancelledError):
                await wait_uncancellable({afut})
            if afut.done() and not afut.cancelled():
                afut.exception()  # retrieved: the cancellation is what matters now
        raise
