"""Calibration of effnet-conse's int8 activation table (framefind/data/efficientnet_lite0_int8.tsv).

Benchmark tooling, not runtime: framefind only reads the shipped table (conse.read_int8_table), so every
machine builds the same int8 graph without calibration photos. ``bench_index.py --calibrate`` picks the photos
and calls these.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from framefind.models.convert import Int8Table, int8_table, quantize_efficientnet_lite0


def calibrate_efficientnet_lite0(source: Path, batches: Iterable) -> Int8Table:
    """The activation table for ``source`` (the float graph): MinMax ranges over ``batches`` of uint8 pixels,
    which should be real photos decoded as the indexer decodes them. The activations do not depend on the
    recipe (recipes differ in their weights), so one table serves them all."""
    with tempfile.TemporaryDirectory(prefix="framefind-int8-") as tmp:
        target = Path(tmp) / "int8.onnx"
        quantize_efficientnet_lite0(source, target, {}, recipe=1, calibration=batches)
        return int8_table(target)


def write_int8_table(path: Path, table: Int8Table) -> None:
    """The table as conse.read_int8_table reads it: tensor, scale (repr, exact), uint8 zero point."""
    rows = [f"{name}\t{scale!r}\t{zero}" for name, (scale, zero) in table.items()]
    path.write_text("\n".join(["tensor\tscale\tzero_point", *rows]) + "\n")
