"""TSBS cpu-only data over a long span at almost no generation cost: one block generated, then repeated.

A sustained load of 10 minutes at a few hundred thousand rows a second needs over a hundred million rows.
``CpuOnly`` reproduces TSBS's own draws, which are sequential, so every load worker generates the whole data
set (about 400,000 rows a second a core) and keeps its share: on a 2-core machine the load generators would
take a core from the system under test. :class:`LoopedCpuOnly` generates the first ``block_epochs`` epochs
once, keeps them, and emits them again and again with the time shifted by the block's span, until the span
of the data set is covered. Hosts, tags, row order and timestamps are those of ``CpuOnly`` over the whole
span; values repeat every block (a host's walk jumps back at each block boundary), so bytes-per-value
figures of a looped load are not TSBS's (compression may see the repetition) and belong to ``CpuOnly``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from loadtest.tsbs import CpuOnly


@dataclass(frozen=True)
class LoopedCpuOnly(CpuOnly):
    """``CpuOnly`` whose first ``block_epochs`` epochs repeat, shifted in time, over [start_ns, end_ns)."""

    block_epochs: int = 360

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block_epochs < 1:
            raise ValueError(f"block_epochs must be at least 1, got {self.block_epochs}")

    @property
    def block(self) -> CpuOnly:
        """The generated block: the data set's first ``block_epochs`` epochs (fewer if the span is shorter)."""
        epochs = min(self.block_epochs, self.epochs)
        return CpuOnly(self.scale, self.start_ns, self.start_ns + epochs * self.interval_ns, self.interval_ns,
                       self.seed, self.integer)

    def chunks(self, epochs_per_chunk: int = 360) -> Iterator[pa.Table]:
        """Tables of whole epochs (at most ``epochs_per_chunk``, never across a block boundary)."""
        block = list(self.block.chunks(epochs_per_chunk))
        block_ns = self.block.epochs * self.interval_ns
        remaining = self.epochs
        loop = 0
        while remaining > 0:
            for chunk in block:
                if remaining <= 0:
                    return
                epochs = chunk.num_rows // self.scale
                part = chunk if epochs <= remaining else chunk.slice(0, remaining * self.scale)
                remaining -= min(epochs, remaining)
                yield part if loop == 0 else shifted(part, loop * block_ns)
            loop += 1


def shifted(table: pa.Table, offset_ns: int) -> pa.Table:
    """``table`` with its ``time`` column moved ``offset_ns`` later."""
    i = table.schema.get_field_index("time")
    column = table.column(i)
    moved = pc.add(column.cast(pa.int64()), pa.scalar(offset_ns, pa.int64())).cast(column.type)
    return table.set_column(i, table.schema.field(i), moved)

