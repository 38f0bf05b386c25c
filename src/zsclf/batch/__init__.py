"""Batch scoring of many photos into a Parquet dataset, here (`--engine local`) or on Ray Data
(`--engine ray`): an optional group above `pipeline` that `predict` never imports."""

from .run import BatchOutcome, BatchRequest, run_batch

__all__ = ["BatchOutcome", "BatchRequest", "run_batch"]
