"""The report's sections, in order: each `section_<name>(ctx) -> markdown`; `--only <name>` picks one."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from .charts import section_charts
from .fewshot import section_fewshot
from .flowers import section_flowers
from .header import section_header
from .hedging import section_hedging
from .imagenet import section_imagenet
from .own_labels import section_own_labels
from .speed import section_speed

Section = Callable[[Context], str]

SECTIONS: list[Section] = [
    section_header,
    section_imagenet,
    section_flowers,
    section_own_labels,
    section_speed,
    section_charts,
    section_fewshot,
    section_hedging,
]


def section_name(func: Section) -> str:
    """`section_speed` -> 'speed' (the name `--only` takes and the markers use)."""
    return func.__name__.removeprefix("section_")
