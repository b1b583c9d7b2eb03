"""Where shard work runs: in this process, or as Ray tasks (``--ray local|auto|ADDRESS``).

``local`` starts a private Ray instance for the command and shuts it down after; ``auto``
or an address joins an existing cluster (whose nodes must see the index directory: a shared
file system). When Ray is already initialized (a library user, a test) it is used as is and
left running.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

# A shard build that fails for a reason worth retrying (a worker killed, a file system
# hiccup) runs again up to this many times; bad input (ValueError) fails at once.
TASK_RETRIES = 2


def import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError('Ray is not installed; install it with pip install "winnow[distributed]"') from None
    return ray


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[object]:
    """Yield the ``ray`` module connected as ``address`` says, or None when ``address`` is None."""
    if address is None:
        yield None
        return
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address == "local":
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="warning")
    else:
        ray.init(address=address, logging_level="warning")
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(fn: Callable, calls: Sequence[tuple], ray=None, num_cpus: float = 1) -> list:
    """``[fn(*args) for args in calls]``, as Ray tasks (retried on worker loss and OSError)
    when ``ray`` is given; results in call order. A task error re-raises here (Ray's
    RayTaskError subclasses the original exception type)."""
    if ray is None:
        return [fn(*args) for args in calls]
    remote = ray.remote(num_cpus=num_cpus, max_retries=TASK_RETRIES, retry_exceptions=[OSError])(fn)
    return ray.get([remote.remote(*args) for args in calls])
