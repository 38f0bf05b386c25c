"""What an index folder's meta.json says, as typed data (read and written with `core.typed_json`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from ..models.registry import ModelRef

FORMAT_VERSION = 2  # 2: versioned folder with CURRENT, checksums in `files`; 1: three files at the top
# 3: format 2 with `queries` (a sentence index): a zsclf that does not know `queries` refuses it instead
# of ranking its sentences with the wrong ConSE against biases fitted for another
SENTENCE_FORMAT = 3
FORMATS = (FORMAT_VERSION, SENTENCE_FORMAT)
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
class LabelPriorChoice:
    """What a text-label index decided about the label-prior (hubness) correction (learn.label_correction):
    the method applied (None: plain cosine) and why, with the statistic the decision rested on."""

    reason: str
    method: str | None = None


@dataclass(frozen=True)
class TextToVisual:
    """How text labels were mapped into the visual space."""

    map: str
    seen_labels_as_classifier_rows: int


@dataclass(frozen=True)
class QueryConSE:
    """How photos become queries for a text-space index when the user does not say: ConSE over the CNN's
    top `top_t` classes at softmax `temperature`, its seen classes embedded with `template`. Recorded by
    sentence indexes (`build-index --sentences`); label indexes use top-10 at 1 and their own template."""

    top_t: int
    temperature: float
    template: str


@dataclass(frozen=True)
class FileCheck:
    """Size and CRC-32 (8 hex digits) of one index file, checked before the file is used."""

    bytes: int
    crc32: str


@dataclass(frozen=True)
class SeenScore:
    """P(photo shows one of the CNN's classes) = sigmoid(a * score + b), score = the energy
    T * logsumexp(logits / T) (Liu et al. 2020)."""

    a: float
    b: float
    kind: str = field(default="energy", metadata={"choices": ("energy",)})
    temperature: float = 1.0


@dataclass(frozen=True)
class LambdaTable:
    """DARTS's lambda for accuracy targets `p` (ascending), fitted on labelled photos."""

    p: list[float]
    value: list[float]


@dataclass(frozen=True)
class FittedFor:
    """What a hedging fit is valid for: the image model, the index's text space and labels, the projection."""

    image_encoder: ModelRef
    text_encoder: str
    template: str
    projection: str  # e.g. "conse top-t 10" (pipeline.hedging.describe_projection)
    labels: int
    labels_crc32: str  # of the index's labels.tsv (meta.files)


@dataclass(frozen=True)
class HedgingModel:
    """Calibrated probabilities for hedged answers (`--hedge`), the novelty score and the seen-class penalty,
    fitted on labelled photos by `zsclf calibrate` (learn.calibrate); see pipeline.hedging for their use.

    p(label) = s * softmax(logits / cnn_temperature) on the CNN's classes + (1 - s) * softmax(top_k index
    scores / index_temperature), s = P(seen) from `seen`; summed up WordNet and answered by DARTS with
    lambda(P) from `darts_lambda`. `seen_penalty`: calibrated stacking's gamma."""

    cnn_temperature: float
    index_temperature: float
    top_k: int
    min_prob: float
    seen: SeenScore
    darts_lambda: LambdaTable
    seen_penalty: float
    fitted_for: FittedFor
    fitted_on: str
    format: int = 1
    created: str = ""
    zsclf_version: str = ""
    about: str = ""
    photos: dict[str, int] | None = None
    stacking: dict[str, float] | None = None


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
    hedging: HedgingModel | None = None  # added by `zsclf calibrate` as a new version of the index
    queries: QueryConSE | None = None  # sentence and corrected label indexes: their ConSE (else top-10 at 1)
    label_prior: LabelPriorChoice | None = None  # text-label indexes: the hubness correction (see `calibration`)

    @property
    def text_space(self) -> TextSpace:
        """The space the labels were embedded in."""
        return TextSpace(self.text_encoder, self.template)

    @property
    def is_sentences(self) -> bool:
        """A sentence index (`build-index --sentences`): its own ConSE, and no label-prior decision."""
        return self.queries is not None and self.label_prior is None

    @property
    def query_space(self) -> TextSpace:
        """The space ConSE embeds the CNN's classes in for queries (the labels' own, unless `queries` says)."""
        return TextSpace(self.text_encoder, self.queries.template) if self.queries else self.text_space

    def with_(self, **changes) -> IndexMeta:
        """A copy with some fields changed."""
        return replace(self, **changes)


def format_for(meta: IndexMeta) -> int:
    """The format number a meta.json is written with (see FORMATS)."""
    return SENTENCE_FORMAT if meta.queries is not None else FORMAT_VERSION


def now() -> str:
    """Creation time stamp (UTC, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
