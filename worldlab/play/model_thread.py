"""The one thread that runs every torch call of a play server.

torch's CPU kernels split work over a team of OpenMP threads, and each thread that calls
torch gets a team of its own. Once two teams exist (say the model loaded on the main
thread and stepped on a pool thread, or stepped on whichever pool thread is free), there
are more OpenMP threads than cores on a small CPU. The runtime then stops its workers
spinning between kernels and puts them to sleep, and a flow step, hundreds of small
kernels, pays a wake-up for each: at 64×64 with 4 sampling steps a step went from 58 to
110 ms on 2 cores. So the server loads, steps and closes its sessions on this thread alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worldlab-model")


def call(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the model thread, waiting for its result."""
    return _EXECUTOR.submit(function, *args).result()


async def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the model thread, awaited without blocking the event loop."""
    return await asyncio.wrap_future(_EXECUTOR.submit(function, *args))
