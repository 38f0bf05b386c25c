"""Exceptions that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations


class ZsclfError(Exception):
    """A usage or set-up problem (bad option, missing model, unusable index): exit code 2."""


class ImageError(Exception):
    """One input image could not be read; the rest of the batch goes on: exit code 1."""
