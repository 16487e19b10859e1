"""A fixed pool of synthesis threads that runs the most urgent job first.

Each streaming request has at most one job outstanding (one ``next()`` of its engine iterator), so
the work queue is bounded by the number of active requests. Jobs carry a deadline — the moment the
request's listener would run out of audio if it played from the first frame in real time — and
the pool runs the earliest deadline first. A request that has not produced its first chunk has the
earliest deadline of all (its receipt time), so first-audio latency stays low under load, while
streams that are ahead of real time yield their turn to those that are not.

Plain EDF fails in a burst, though: when 64 streams start at once, every first chunk's deadline
(its receipt) is earlier than any playing stream's, so the pool would compute all 64 first chunks
(~0.5 s on two cores) while the streams that started first run dry. A job whose deadline was
already past when it was submitted (a first chunk, or a stream that has run dry) is *late*: its
listener hears silence either way. A job submitted ahead of its deadline is *on time* and becomes
*urgent* once its deadline is less than ``urgent_s`` away (``urgent_s`` covers a chunk's compute,
the wait for a thread and the trip to the socket). The pool runs urgent jobs first (earliest
deadline first), then late ones (oldest first), then the rest: a playing stream is never starved
by new ones, and new ones still start as soon as no playing stream needs the thread.

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
    ahead: bool = field(default=False, compare=False)  # submitted before its deadline


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
        urgent_s: float = 0.1,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if max_heavy is None:
            max_heavy = max(1, threads - 1)
        if not 1 <= max_heavy <= threads:
            raise ValueError(f"max_heavy must be in 1..{threads}, got {max_heavy}")
        if urgent_s < 0:
            raise ValueError(f"urgent_s must be >= 0, got {urgent_s}")
        self.max_heavy = max_heavy
        self.urgent_s = urgent_s
        # (heavy, ahead) -> heap of jobs by deadline
        self._heaps: dict[tuple[bool, bool], list[_Job]] = {
            (h, a): [] for h in (False, True) for a in (False, True)
        }
        self._heavy_busy = 0
        self._on_idle = on_idle
        self.idle_calls = 0
        self._cv = threading.Condition()
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
            return sum(len(h) for h in self._heaps.values())

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
        """Queue ``fn`` to run on a worker thread; smaller ``deadline_s`` (time.monotonic scale) first,
        except that on-time jobs within ``urgent_s`` of their deadline go before late ones (see the
        module docstring). ``heavy``: one of the long jobs limited to ``max_heavy`` threads at once."""
        fut: Future[T] = Future()
        ahead = deadline_s > time.monotonic()
        with self._cv:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            job = _Job(deadline_s, next(self._seq), fn, fut, heavy, ahead)
            heapq.heappush(self._heaps[heavy, ahead], job)
            self._cv.notify_all()
        return fut

    def _next_job(self) -> _Job | None:
        """The next runnable job (lock held), or None: the most urgent on-time job if one is within
        ``urgent_s`` of its deadline, else the oldest late job, else the earliest on-time job."""
        heavy_ok = self._heavy_busy < self.max_heavy
        tops = {k: h[0] for k, h in self._heaps.items() if h and (heavy_ok or not k[0])}
        if not tops:
            return None
        ahead = [k for k in tops if k[1]]
        late = [k for k in tops if not k[1]]
        first = min(ahead, key=tops.__getitem__) if ahead else None
        if first is not None and tops[first].deadline_s <= time.monotonic() + self.urgent_s:
            key = first
        elif late:
            key = min(late, key=tops.__getitem__)
        else:
            assert first is not None
            key = first
        return heapq.heappop(self._heaps[key])

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no job is running or pending (True) or ``timeout_s`` passes (False)."""
        end = time.monotonic() + timeout_s
        with self._cv:
            while self._busy or any(self._heaps.values()):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def shutdown(self, *, timeout_s: float | None = 10.0) -> None:
        """Drop pending jobs (their futures are cancelled), let running ones finish, join threads."""
        with self._cv:
            self._closed = True
            dropped = [job for h in self._heaps.values() for job in h]
            for h in self._heaps.values():
                h.clear()
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
                idle = self._on_idle is not None and not (self._busy or any(self._heaps.values()))
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
