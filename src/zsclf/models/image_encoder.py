"""The image encoder: EfficientNet-Lite in ONNX Runtime, giving pooled features and ImageNet logits,
plus the statistics of its classifier head that the visual space needs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.device import SessionConfig, create_session, default_threads
from ..core.fsio import open_regular
from ..errors import ZsclfError
from .registry import SETUP_HINT, ModelRef, ModelSpec, Preprocess, model_spec

CPU_MAX_BATCH = 4  # images per ONNX Runtime run on the CPU, whatever the batch given to encode()
# EfficientNet-Lite0 needs ~10-12 MB of activations per image in a run, kept by ORT's arena afterwards
# (measured: 98 MB for an 8-image run, 389 MB for 32; a 1,000-image run would take ~11 GB). Runs of
# 4 images cost no speed: encoder CPU time per image was lowest at 2-4 images, 10-18% higher at 16-32.


class ImageEncoder:
    """Runs the exported image model: uint8 [N,S,S,3] pixels -> (features [N,F], logits [N,C]).

    An image classifier gives its pooled features and its classes' logits; the image tower of a joint pair
    gives its embedding as the features and no logits (C = 0)."""

    def __init__(self, spec: ModelSpec, config: SessionConfig | None = None) -> None:
        assert spec.entry.input is not None  # model_spec checks it for image models
        config = config or SessionConfig()
        self.spec = spec
        self.preprocess: Preprocess = spec.entry.input
        self.threads = config.threads or default_threads()  # intra-op threads of one run
        self.session, self.device = create_session(str(spec.path), config)
        self.max_batch = CPU_MAX_BATCH if self.device == "cpu" else None  # None: the whole batch in one run
        self.feature_dim = spec.output_dim(spec.vector_output)
        self.num_classes = spec.output_dim("logits") if "logits" in spec.entry.outputs else 0
        self.outputs = ["embedding"] if spec.vector_output == "embedding" else ["features", "logits"]

    @classmethod
    def load(cls, name: str | None = None, config: SessionConfig | None = None,
             models_dir: Path | None = None) -> ImageEncoder:
        """Load a model from the registry (default: EfficientNet-Lite0)."""
        return cls(model_spec(name, "image", models_dir), config)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ref(self) -> ModelRef:
        """What an index or projection records about this encoder."""
        return self.spec.vector_ref()

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features and logits for a preprocessed uint8 batch (run `max_batch` images at a time)."""
        step = self.max_batch or len(batch)
        parts = [self.session.run(self.outputs, {self.preprocess.name: batch[i:i + step]})
                 for i in range(0, len(batch), step)]
        features = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        if self.num_classes == 0:
            return features, np.zeros((len(features), 0), np.float32)
        return features, parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])

    def visual_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Classifier rows [C, F] and the expected feature [F] (from batch-norm statistics), exported
        next to the ONNX model; read once per file."""
        check_visual_statistics(self.spec)
        path = self.spec.sibling(self.spec.entry.classifier, "the classifier weights")
        return _load_visual_statistics(str(path), self.spec.entry.classifier_sha256 or "")

    def classifier_rows(self) -> np.ndarray:
        """The CNN's final-layer weight rows [C, F]."""
        return self.visual_statistics()[0]


def check_visual_statistics(spec: ModelSpec) -> None:
    """Refuse the visual space for an image model exported without its classifier statistics."""
    if not spec.entry.classifier:
        raise ZsclfError(f"image model {spec.name} has no classifier statistics (rows and expected feature, "
                         "made by the EfficientNet-Lite export): the visual space needs them; use --space text")


@lru_cache(maxsize=4)
def _load_visual_statistics(path: str, sha256: str) -> tuple[np.ndarray, np.ndarray]:
    """One read per file and content (a visual-space build asks for it several times)."""
    import zipfile

    try:
        with open_regular(path) as fh, np.load(fh, allow_pickle=False) as data:
            weight, mean = data["weight"].astype(np.float32), data["feature_mean"].astype(np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ZsclfError(f"{path}: damaged classifier weights ({type(exc).__name__}): {SETUP_HINT}") from None
    if weight.ndim != 2 or mean.shape != (weight.shape[1],) or not np.isfinite(weight).all():
        raise ZsclfError(f"{path}: damaged classifier weights (shapes {weight.shape}, {mean.shape}): {SETUP_HINT}")
    return weight, mean
