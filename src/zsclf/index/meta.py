"""What an index folder's meta.json says, as typed data (read and written with `core.typed_json`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from ..models.registry import ModelRef

FORMAT_VERSION = 2  # 2: versioned folder with CURRENT, checksums in `files`; 1: three files at the top
KINDS = ("flat", "hnsw")
SPACES = ("text", "visual")
VISUAL_TRANSFORMS = ("centre", "sqrt")


@dataclass(frozen=True)
class TextSpace:
    """A label-embedding space: the text encoder and the template that turned labels into text."""

    text_encoder: ModelRef
    template: str


@dataclass(frozen=True)
class ProjectionRef:
    """The DeViSE projection file a text-space index's photo-taught labels were made with."""

    name: str
    sha256: str


@dataclass(frozen=True)
class PhotoLabels:
    """Labels taught by example photos."""

    labels: int
    photos: int
    replaced_text_labels: int = 0
    projection: str = "visual"


@dataclass(frozen=True)
class Calibration:
    """Per-label z-scores against reference queries (vectors stored as [v/s, -m/s])."""

    method: str
    reference_queries: int


@dataclass(frozen=True)
class TextToVisual:
    """How text labels were mapped into the visual space."""

    map: str
    seen_labels_as_classifier_rows: int


@dataclass(frozen=True)
class FileCheck:
    """Size and CRC-32 (8 hex digits) of one index file, checked before the file is used."""

    bytes: int
    crc32: str


@dataclass(frozen=True)
class IndexMeta:
    """Everything an index records about how its vectors were made."""

    format: int
    kind: str = field(metadata={"choices": KINDS})
    metric: str
    dim: int
    count: int
    space: str = field(metadata={"choices": SPACES})
    template: str
    text_encoder: ModelRef
    created: str = ""
    source: str = ""
    zsclf_version: str = ""
    image_encoder: ModelRef | None = None
    projection: ProjectionRef | None = None
    visual_transform: str | None = field(default=None, metadata={"choices": VISUAL_TRANSFORMS})
    text_to_visual: TextToVisual | None = None
    photos: PhotoLabels | None = None
    calibration: Calibration | None = None
    hnsw_recall_at_10: float | None = None
    files: dict[str, FileCheck] | None = None  # index.faiss and labels.tsv (format 2; written by save_index)

    @property
    def text_space(self) -> TextSpace:
        return TextSpace(self.text_encoder, self.template)

    def with_(self, **changes) -> IndexMeta:
        """A copy with some fields changed."""
        return replace(self, **changes)


def now() -> str:
    """Creation time stamp (UTC, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
