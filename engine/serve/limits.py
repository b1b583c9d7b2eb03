"""Request limits of ``winnow serve`` and the bounded worker pool that runs searches.

The C++ searches release the GIL, so searches run on worker threads while the event loop keeps
accepting requests. At most ``workers + queue`` searches are admitted at once; one more is
refused at once with 503 and ``Retry-After`` instead of waiting in an unbounded queue.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ServeLimits:
    max_k: int = 1000            # hits per query
    max_query_chars: int = 4096  # characters of one query text
    max_batch: int = 100         # queries in one POST /search
    workers: int = 4             # search threads
    queue: int = 64              # searches admitted beyond the busy workers before 503
    snippet_chars: int = 300     # text characters per hit in search answers (the page's snippet)

    def __post_init__(self) -> None:
        for name in ("max_k", "max_query_chars", "max_batch", "workers", "snippet_chars"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.queue, int) and self.queue >= 0):
            raise ValueError(f"queue must be an integer >= 0, got {self.queue!r}")


class Busy(Exception):
    """Every worker is busy and the queue is full: answer 503."""


class BoundedPool:
    """A thread pool that admits at most ``workers + queue`` tasks at a time."""

    def __init__(self, workers: int, queue: int):
        self.capacity = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="winnow-search")
        self._slots = threading.BoundedSemaphore(self.capacity)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._slots.acquire(blocking=False):
            raise Busy()
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        # the slot is freed when the work ends, not when a client that went away stops waiting
        future.add_done_callback(lambda _f: self._slots.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)  # in-flight searches finish
