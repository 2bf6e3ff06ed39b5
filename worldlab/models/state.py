"""Batch operations on opaque model states, for code that must not know the family.

A family's ``state`` is a dataclass, dict, tuple or tensor whose tensors all have the
batch as their first dimension; these helpers map over it without looking inside.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch


def map_state(function: Callable[..., torch.Tensor], *states: Any) -> Any:
    """Apply ``function`` to the matching tensors of one or more same-shaped states."""
    first = states[0]
    if first is None:  # an optional part a state leaves out (e.g. no text prompt)
        return None
    if isinstance(first, torch.Tensor):
        return function(*states)
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(
            first,
            **{
                field.name: map_state(function, *(getattr(s, field.name) for s in states))
                for field in dataclasses.fields(first)
            },
        )
    if isinstance(first, dict):
        return {key: map_state(function, *(s[key] for s in states)) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(map_state(function, *parts) for parts in zip(*states, strict=True))
    raise TypeError(
        f"cannot batch a state of type {type(first).__name__}: use tensors in a "
        "dataclass, dict or tuple"
    )


def scatter_state(state: Any, index: torch.Tensor, rows: Any) -> Any:
    """A copy of ``state`` whose batch rows ``index [K]`` are replaced by ``rows`` (batch K)."""
    return map_state(lambda full, part: full.index_copy(0, index, part.to(full.dtype)), state, rows)


def index_state(state: Any, index) -> Any:
    """Select batch rows of a state."""
    return map_state(lambda tensor: tensor[index], state)
