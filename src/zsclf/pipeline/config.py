"""How to assemble a Classifier: the options predict, eval, batch and serve share, checked before any work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ZsclfError, check_number
from ..models.registry import ModelSpec, model_spec
from .queries import require_classes


@dataclass(frozen=True)
class ClassifierConfig:
    """How to assemble a Classifier (the options `predict` and `eval` share)."""

    index: Path | None = None  # default: the ImageNet-21K index (paths.default_index_dir)
    device: str = "auto"
    threads: int | None = None
    image_model: str | None = None  # from models/manifest.json (default: EfficientNet-Lite0)
    projection: Path | None = None  # a DeViSE file from `zsclf train` (default: ConSE)
    top_t: int | None = None  # ConSE's top-t (default: the index's own, else 10)
    seen_gate: float | None = None
    max_k: int = 5  # the largest top-k that will be asked for (decides whether FAISS may use the GPU)
    hedge: float | None = None  # accuracy target P of hedged answers (pipeline.hedging)
    hedge_rule: str = "darts"
    seen_penalty: float | None = None  # calibrated stacking's gamma (default: the index's own fit's, else 0)
    exclude_seen: bool = False  # whether calls will exclude the CNN's classes (checked against the model up front)

    def __post_init__(self) -> None:
        if self.top_t is not None and self.top_t < 1:
            raise ZsclfError(f"--top-t must be at least 1, not {self.top_t}")
        if self.seen_gate is not None and not 0.0 <= self.seen_gate <= 1.0:  # NaN fails too
            raise ZsclfError(f"--seen-gate must be a probability between 0 and 1, not {self.seen_gate}")
        if self.hedge is not None and not 0.0 < self.hedge <= 1.0:
            raise ZsclfError(f"--hedge must be a probability in (0, 1], not {self.hedge}")
        check_number("--seen-penalty", self.seen_penalty)

    def check_model(self) -> ModelSpec:
        """The image model, refused now if an option needs classes it does not have (a joint image tower)."""
        image = model_spec(self.image_model, "image")
        for option, value in (("--seen-gate", self.seen_gate), ("--seen-penalty", self.seen_penalty),
                              ("--hedge", self.hedge), ("--exclude-seen", self.exclude_seen or None)):
            if value is not None:
                require_classes(image, option)
        return image
