"""Packing chunks into request groups that the API and the shared limit can always accept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .catalog import MAX_INPUTS_PER_REQUEST, MAX_TOKENS_PER_REQUEST


@dataclass(frozen=True)
class Item:
    chunk_id: int
    inputs: int  # a long chunk under the "average" policy sends several inputs
    tokens: int


def pack(
    items: Iterable[Item],
    *,
    budget: int,
    max_inputs: int = MAX_INPUTS_PER_REQUEST,
    max_tokens: int = MAX_TOKENS_PER_REQUEST,
) -> list[list[Item]]:
    """Greedy groups, in order, of at most ``max_inputs`` inputs and ``min(budget, max_tokens)`` tokens.

    An item larger than the token bound gets a group of its own; the caller decides whether
    such a group can ever pass (it cannot if it exceeds the TPM limit).
    """
    bound = min(budget, max_tokens)
    groups: list[list[Item]] = []
    current: list[Item] = []
    inputs = tokens = 0
    for item in items:
        if current and (inputs + item.inputs > max_inputs or tokens + item.tokens > bound):
            groups.append(current)
            current, inputs, tokens = [], 0, 0
        current.append(item)
        inputs += item.inputs
        tokens += item.tokens
    if current:
        groups.append(current)
    return groups
