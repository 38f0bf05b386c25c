"""How an image becomes a query in a text space, by kind of image model: the one place a new kind plugs in.

* an image classifier (EfficientNet-Lite's 1,000 ImageNet classes, a timm CNN with 21,841): ConSE (Norouzi et
  al. 2013), the softmax-weighted mix of its top-t classes' label embeddings; its classes come from the
  manifest's `classes` (a committed label set or a class file next to the model). It works in any text space.
* the image tower of a joint pair (CLIP-class): its own embedding, already in its text tower's space; only
  indexes made with that text tower can be searched with it.

What needs a classifier's classes (the seen gate and penalty, --exclude-seen, hedged answers, the visual space,
DeViSE and residual maps, photo priors of logits) asks `require_classes` and is refused in one line otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..core.vectors import normalize
from ..data.labels import LabelSet, imagenet1k, imagenet21k_path, read_labels
from ..errors import ZsclfError
from ..index.meta import TextSpace
from ..models.registry import ModelSpec
from .projection import DEFAULT_TOP_T, ConSE, Projection

if TYPE_CHECKING:
    from ..index.label_index import LabelIndex

INDEX_ROWS_ABOVE = 1000  # class lists longer than this take their vectors from the index when it holds them all; up
# to it (ImageNet-1K) the cached class matrix is cheaper to read than the index's 21,841 vectors
COMMITTED_CLASSES = {"imagenet1k": imagenet1k, "imagenet21k": lambda: read_labels(imagenet21k_path())}


class JointEmbedding:
    """A joint pair's image tower: the query is its L2-normalised image embedding (no logits, no ConSE)."""

    name = "joint"
    space = "text"

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def project(self, features: np.ndarray, logits: np.ndarray) -> np.ndarray:
        return normalize(features)


def require_classes(spec: ModelSpec, what: str) -> None:
    """Refuse `what` (an option or feature) for an image model without classes of its own (a joint image tower)."""
    if spec.is_joint:
        raise ZsclfError(f"{what} needs an image classifier's own classes; {spec.name} is the image tower of a joint "
                         "image-text pair and has none")


def model_classes(spec: ModelSpec) -> LabelSet:
    """An image classifier's classes in logit order (ids are WNIDs where the class list has them)."""
    require_classes(spec, "ConSE")
    name = spec.entry.classes or "imagenet1k"
    labels = COMMITTED_CLASSES[name]() if name in COMMITTED_CLASSES else read_labels(spec.sibling(name, "class list"))
    count = spec.output_dim("logits")
    if len(labels) != count:
        raise ZsclfError(f"image model {spec.name}: its class list {name} holds {len(labels)} classes, "
                         f"its logits {count}: fix the model's card and import it again")
    return labels


def check_query_space(spec: ModelSpec, space: TextSpace, where: str) -> None:
    """A joint image tower can only search vectors its own text tower made."""
    if spec.is_joint and space.text_encoder.name != spec.entry.text_model:
        raise ZsclfError(f"{where} holds {space.text_encoder.name} vectors, but image model {spec.name} embeds photos "
                         f"in the space of {spec.entry.text_model}: build an index with "
                         f"`zsclf build-index LABELS --model {spec.name}` (or use --labels with --model)")


def class_rows_from_index(index: LabelIndex, classes: LabelSet, space: TextSpace) -> np.ndarray | None:
    """The classes' vectors taken from a plain text index of the same space that holds every one of them by id
    (the 21K index holds all 21,841 classes of a 21K CNN: no need to embed them again); None otherwise."""
    meta = index.meta
    if meta.space != "text" or meta.calibration is not None or meta.text_space != space or not all(classes.ids):
        return None
    row_of = {label_id: row for row, label_id in enumerate(index.ids) if label_id}
    rows = [row_of.get(label_id, -1) for label_id in classes.ids]
    if min(rows) < 0:
        return None
    return normalize(index.vectors()[np.array(rows)])


def queries_for(spec: ModelSpec, space: TextSpace, top_t: int = DEFAULT_TOP_T, temperature: float = 1.0,
                embed: Callable[[list[str]], np.ndarray] | None = None, index: LabelIndex | None = None,
                where: str = "the index") -> Projection:
    """The training-free query maker for image model `spec` in `space`: its embedding for a joint image tower,
    else ConSE over its classes embedded in `space` (cached; `embed` embeds them when the cache lacks them,
    `index` may already hold them)."""
    from .seen import seen_class_embeddings

    check_query_space(spec, space, where)
    if spec.is_joint:
        return JointEmbedding(spec.output_dim("embedding"))
    classes = model_classes(spec)
    rows = class_rows_from_index(index, classes, space) if index is not None and len(classes) > INDEX_ROWS_ABOVE \
        else None
    if rows is None:
        rows = seen_class_embeddings(space, embed, classes)
    return ConSE(rows, top_t, temperature)
