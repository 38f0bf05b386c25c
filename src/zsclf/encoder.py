"""The image encoder: EfficientNet-Lite in ONNX Runtime, giving pooled features and ImageNet logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .device import SessionConfig, create_session
from .images import Preprocess, load_and_preprocess
from .manifest import ModelSpec, model_spec


class ImageEncoder:
    """Runs the exported CNN: [N,3,S,S] float32 -> (features [N,1280], logits [N,1000])."""

    def __init__(self, spec: ModelSpec, config: SessionConfig | None = None) -> None:
        self.spec = spec
        self.preprocess = Preprocess.from_manifest(spec.entry)
        self.session, self.device = create_session(str(spec.path), config or SessionConfig())
        self.input_name = spec.entry["input"]["name"]
        self.feature_dim = int(spec.entry["outputs"]["features"][1])
        self.num_classes = int(spec.entry["outputs"]["logits"][1])

    @classmethod
    def load(cls, name: str | None = None, config: SessionConfig | None = None,
             models_dir: Path | None = None) -> ImageEncoder:
        """Load a model from the registry (default: EfficientNet-Lite0)."""
        return cls(model_spec(name, "image", models_dir), config)

    @property
    def name(self) -> str:
        return self.spec.name

    def encode(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features and logits for a preprocessed batch."""
        features, logits = self.session.run(["features", "logits"], {self.input_name: batch})
        return features, logits

    def encode_files(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Features and logits for image files (raises ImageError on the first unreadable one)."""
        batch = np.stack([load_and_preprocess(p, self.preprocess) for p in paths])
        return self.encode(batch)
