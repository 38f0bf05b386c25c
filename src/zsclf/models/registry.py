"""The model registry: `models/manifest.json` (written by install.export), read as typed data.

Each model entry says which ONNX file to load, its sha256 (indexes and projections record it, so
a mismatch is caught), what input it wants and what outputs it gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import paths, typed_json
from ..core.fsio import regular_file_problem
from ..errors import ZsclfError

SETUP_HINT = "run `zsclf setup` (in a checkout: `make setup`) to install the models"
KINDS = ("image", "text")


@dataclass(frozen=True)
class Preprocess:
    """What an image encoder wants: TF-style centre crop, bicubic resize to `size`, uint8 RGB pixels (NHWC).

    `mean`/`std` document the scaling the exported graph applies itself; `scale()` reproduces it
    for code that feeds a float model (the PyTorch parity checks and baseline).
    """

    size: int = 224
    crop_fraction: float = 224 / 256
    mean: float = 127.0
    std: float = 128.0
    name: str = "image"
    mean_rgb: list[float] | None = None  # per channel, in pixel units (0-255); when given, used instead of mean/std
    std_rgb: list[float] | None = None

    def scale(self, batch: np.ndarray) -> np.ndarray:
        """uint8 NHWC pixels -> the float NCHW tensor the original network expects."""
        mean = np.asarray(self.mean_rgb if self.mean_rgb else self.mean, np.float32)
        std = np.asarray(self.std_rgb if self.std_rgb else self.std, np.float32)
        return np.ascontiguousarray(((batch.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class ModelEntry:
    """One model as the manifest describes it (image models have `input`; text models a tokenizer)."""

    kind: str = field(metadata={"choices": KINDS})
    file: str
    sha256: str
    outputs: dict[str, list]
    bytes: int | None = None
    input: Preprocess | None = None
    classes: str | None = None
    classifier: str | None = None
    classifier_sha256: str | None = None
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None
    max_tokens: int | None = None
    source: dict | None = None
    exported_with: dict | None = None
    quantized: dict | None = None  # int8 siblings: how and from which float model (install.quantize)
    inputs: list[str] | None = None  # text models: the graph's inputs (default: input_ids and attention_mask)
    context_length: int | None = None  # text models whose graph wants a fixed token count (CLIP: 77), padded with 0
    text_clean: str | None = None  # text models: cleaning before the tokenizer (models.text_clean), e.g. "clip"
    text_model: str | None = None  # joint image towers: the text tower whose space the image embedding lives in
    image_model: str | None = None  # joint text towers: their image tower
    logit_scale: float | None = None  # joint pairs: the softmax scale of image-text cosines the pair was trained at


@dataclass(frozen=True)
class Manifest:
    """The whole registry."""

    format: int
    models: dict[str, ModelEntry]
    default_image_model: str
    default_text_model: str

    def default(self, kind: str) -> str:
        return self.default_image_model if kind == "image" else self.default_text_model


@dataclass(frozen=True)
class ModelRef:
    """Which model made (or must read) some vectors: its registry name, file sha256 and output size;
    indexes and projection files record one per encoder."""

    name: str
    sha256: str
    dim: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A model chosen from the registry, with the path of its file."""

    name: str
    path: Path
    entry: ModelEntry

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    @property
    def is_joint(self) -> bool:
        """An image tower of a joint image-text pair: it embeds photos straight into its text tower's space."""
        return self.entry.kind == "image" and self.entry.text_model is not None

    @property
    def vector_output(self) -> str:
        """The output whose rows are this model's vectors: `embedding` (text models, joint image towers) or
        `features` (image classifiers, which also give `logits`)."""
        return "embedding" if "embedding" in self.entry.outputs else "features"

    def output_dim(self, output: str) -> int:
        """The size of an output's last axis (e.g. features -> 1280)."""
        shape = self.entry.outputs.get(output)
        if not shape or not isinstance(shape[-1], int):
            raise ZsclfError(f"model {self.name}: the manifest gives no size for output {output!r}: {SETUP_HINT}")
        return shape[-1]

    def ref(self, output: str) -> ModelRef:
        """What an index, projection or collection records about this model; `output` names the output
        whose size is the vector dimension (features, embedding)."""
        return ModelRef(self.name, self.sha256, self.output_dim(output))

    def vector_ref(self) -> ModelRef:
        """`ref` of the output whose rows are this model's vectors (see `vector_output`)."""
        return self.ref(self.vector_output)

    def sibling(self, name: str | None, what: str) -> Path:
        """A file the manifest names next to the model (tokenizer, classifier weights); it must exist."""
        if not name:
            raise ZsclfError(f"{what} of model {self.name} is not in the manifest: {SETUP_HINT}")
        path = self.path.parent / name
        if problem := regular_file_problem(path):
            raise ZsclfError(f"{what} of model {self.name} ({path}) {problem}: {SETUP_HINT}")
        return path


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(models_dir: Path | None = None) -> Manifest:
    """The parsed, checked manifest, or a ZsclfError saying what is wrong and how to fix it."""
    path = (models_dir or paths.models_dir()) / "manifest.json"
    if not path.exists() and not path.is_symlink():
        raise ZsclfError(f"no model manifest at {path}: {SETUP_HINT}")
    return typed_json.read(Manifest, path, "the model manifest")


def text_model_for(image: ModelSpec) -> str | None:
    """The text model an image model's label vectors must come from: a joint image tower's own text tower;
    None (the manifest's default text model) for an image classifier, whose ConSE works in any text space."""
    return image.entry.text_model


def model_spec(name: str | None = None, kind: str = "image", models_dir: Path | None = None) -> ModelSpec:
    """Look up a model by name (default: the manifest's default of that kind); its file must exist."""
    models_dir = models_dir or paths.models_dir()
    manifest = load_manifest(models_dir)
    name = name or manifest.default(kind)
    entry = manifest.models.get(name)
    if entry is None or entry.kind != kind:
        known = ", ".join(n for n, e in manifest.models.items() if e.kind == kind)
        raise ZsclfError(f"unknown {kind} model {name!r} (known: {known})")
    if kind == "image" and entry.input is None:
        raise ZsclfError(f"{models_dir / 'manifest.json'}: image model {name!r} has no 'input' block: {SETUP_HINT}")
    if kind == "image" and not ({"features", "logits"} <= entry.outputs.keys() or "embedding" in entry.outputs):
        raise ZsclfError(f"{models_dir / 'manifest.json'}: image model {name!r} gives neither features and logits "
                         f"nor an embedding (outputs: {', '.join(entry.outputs)})")
    path = models_dir / entry.file
    if problem := regular_file_problem(path):
        raise ZsclfError(f"model file {path}: {problem}: {SETUP_HINT}")
    return ModelSpec(name=name, path=path, entry=entry)
