"""Building label indexes: text-only labels, labels taught by example photos, text or visual space.

* text space: label vectors are text embeddings; a photo-taught label is the normalised mean of
  its photos' projected queries (ConSE or a DeViSE projection).
* visual space (DEM): label vectors live in the CNN's feature space, centred on the expected
  feature (from batch-norm statistics; an index of photo prototypes alone uses square-root
  power normalisation instead, see VisualProjection) and normalised; a photo-taught label is the
  normalised mean of its photos' vectors (a prototype), a seen class is its classifier row, and
  any other text label is mapped there by a ridge map fitted on (text embedding, classifier row)
  pairs of the 1,000 ImageNet classes.
* text-taught and photo-taught labels in one index are calibrated (see learn.calibration).

`make_index(BuildRequest)` is what `zsclf build-index` runs: it checks the options, resolves the
space and checks the output folder (before any work), loads the encoders, builds (`build_index`)
and saves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.device import SessionConfig
from ..core.progress import Progress, counter
from ..core.vectors import normalize
from ..data.dataset import empty_label_folders
from ..data.labels import DEFAULT_TEMPLATE, LabelSet, check_template, effective_template, imagenet1k, read_labels
from ..errors import ZsclfError
from ..index.label_index import LabelIndex
from ..index.meta import (
    FORMAT_VERSION,
    KINDS,
    SPACES,
    IndexMeta,
    PhotoLabels,
    ProjectionRef,
    TextSpace,
    TextToVisual,
    now,
)
from ..index.publish import check_index_target
from ..index.store import save_index
from ..models.image_encoder import ImageEncoder, check_visual_statistics
from ..models.registry import ModelSpec, model_spec, text_model_for
from ..models.text_encoder import TextEncoder
from ..pipeline import compat
from ..pipeline.projection import ConSE, LinearProjection, Projection, VisualProjection
from ..pipeline.queries import queries_for
from ..pipeline.seen import seen_class_embeddings
from ..version import __version__
from .calibration import calibrate, hnsw_recall
from .examples import ExampleSet, read_examples
from .features import encode_images
from .label_correction import check_label_prior, correct_labels
from .photo_prior import ReferencePhotos
from .sentence_index import (
    MIN_REFERENCE_PHOTOS,
    SENTENCE_QUERIES,
    SENTENCE_TEMPLATE,
    even_sample,
    sentence_vectors,
)
from .train import text_to_visual_map


def check_text_model(text: ModelSpec, image: ModelSpec) -> None:
    """A joint image tower's labels must come from its own text tower (any text model serves a classifier's ConSE)."""
    if image.is_joint and text.name != image.entry.text_model:
        raise ZsclfError(f"--text-model {text.name}: image model {image.name} embeds photos in the space of "
                         f"{image.entry.text_model}; only that text model can embed labels for it")


@dataclass(frozen=True)
class BuildRequest:
    """What `zsclf build-index` asks for; library callers fill it the same way."""

    labels: Path | None = None  # .txt / .tsv / .csv label file
    examples: Path | None = None  # a folder per label, or a manifest (path, label[, id])
    output: Path | None = None  # default: next to the labels (or examples), suffix .index
    template: str | None = None  # default: DEFAULT_TEMPLATE (a sentence index takes none)
    kind: str = "flat"
    space: str = "auto"  # auto = visual with examples, else text (chosen by measurement)
    shots: int | None = None
    seed: int = 0
    projection: Path | None = None  # DeViSE file placing example photos in the text space
    threads: int | None = None
    sentences: bool = False  # labels are sentences to rank for photos (learn.sentence_index)
    reference_photos: Path | None = None  # photos (a folder or one) to correct hubness against (sentences, labels)
    label_prior: str = "auto"  # text labels: auto, off or a method (learn.label_correction)
    model: str | None = None  # image model for photos, the visual space and the prior (default: the manifest's)
    text_model: str | None = None  # the labels' text model (default: registry.text_model_for the image model)

    def resolved_space(self) -> str:
        """The space to build in, after checking the options that depend on it."""
        if self.labels is None and self.examples is None:
            raise ZsclfError("give a label file, --examples, or both")
        if self.space not in ("auto", *SPACES):
            raise ZsclfError(f"unknown space {self.space!r}: choose auto, text or visual")
        if self.kind not in KINDS:
            raise ZsclfError(f"unknown index kind {self.kind!r}: choose one of {', '.join(KINDS)}")
        check_template(self.template or DEFAULT_TEMPLATE)
        if self.sentences and self.template is not None:
            raise ZsclfError("--sentences embeds each sentence as written: it takes no --template")
        space = "text" if self.space == "auto" and not self.examples else self.space
        image = None  # the image model matters (and is refused before any work when unknown) only when named or used
        if self.model is not None or space != "text":
            image = model_spec(self.model, "image")
            visual = image.entry.classifier is not None and not image.is_joint  # the visual space needs its statistics
            space = ("visual" if visual else "text") if space == "auto" else space
        if self.text_model is not None:
            check_text_model(model_spec(self.text_model, "text"), image or model_spec(self.model, "image"))
        if image is not None and image.is_joint and space == "visual":
            raise ZsclfError(f"--space visual is an image classifier's feature space; {self.model} embeds photos in "
                             "its text tower's space already: use --space text")
        if image is not None and space == "visual":
            check_visual_statistics(image)
        if self.sentences and (self.examples or space != "text"):
            raise ZsclfError("--sentences ranks sentences by their text: it takes no --examples and no --space visual")
        check_label_prior(self.label_prior)
        if self.reference_photos and not (self.sentences or (self.labels and space == "text")):
            raise ZsclfError("--reference-photos corrects text labels or sentences: give a label file (text space)")
        if self.reference_photos and self.label_prior == "off" and not self.sentences:
            raise ZsclfError("--reference-photos is what --label-prior corrects against: it does nothing with off")
        if self.sentences and self.label_prior not in ("auto", "off"):
            raise ZsclfError("--label-prior is for label indexes: a sentence index has its own correction")
        if self.reference_photos and not self.reference_photos.exists():
            raise ZsclfError(f"--reference-photos {self.reference_photos}: no such file or folder")
        if self.projection and not (self.examples and space == "text"):
            raise ZsclfError("--projection places example photos in the text space: "
                             "it needs --examples and --space text")
        return space

    def output_path(self) -> Path:
        """`output`, or `<labels or examples>.index` beside the input."""
        if self.output:
            return self.output
        base = self.labels or self.examples
        assert base is not None
        return base.with_name(base.stem + ".index")

@dataclass
class BuildOutcome:
    """A built and saved index, and what the user should hear about the input."""

    index: LabelIndex
    output: Path
    space: str
    notes: list[str]

def make_index(request: BuildRequest, progress: Progress | None = None) -> BuildOutcome:
    """Check `request`, read its inputs, build the index and save it (what `zsclf build-index` does)."""
    space = request.resolved_space()
    output = request.output_path()
    check_index_target(output)  # before any work: a bad --output is an error now, not after the embedding
    labels = read_labels(request.labels) if request.labels else None
    notes = []
    if labels and (labels.dropped_blank or labels.dropped_duplicates):
        notes.append(f"{request.labels}: dropped {labels.dropped_blank} blank lines and "
                     f"{labels.dropped_duplicates} duplicates")
    examples = read_examples(request.examples, request.shots, request.seed) if request.examples else None
    if request.examples and (empty := empty_label_folders(request.examples)):
        notes.append(f"{request.examples}: {len(empty)} label folders hold no photos and were left out "
                     f"({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''})")
    text = TextEncoder.load(request.text_model or text_model_for(model_spec(request.model, "image")),
                            SessionConfig(device="cpu", threads=request.threads))
    encoder = None
    if examples or space == "visual" or request.reference_photos:  # single-threaded runs, batches in parallel
        encoder = ImageEncoder.load(request.model, SessionConfig(device="cpu", threads=1))
    reference = None
    if request.reference_photos:
        assert encoder is not None
        reference = _reference_photos(request.reference_photos, encoder, notes, progress)
    devise = None
    if request.projection:
        from ..pipeline.projection_file import load_projection

        devise = load_projection(request.projection)
    source = (request.labels or request.examples).name  # type: ignore[union-attr]
    template = request.template or DEFAULT_TEMPLATE
    index = build_index(labels, text, template, request.kind, space, examples=examples, encoder=encoder,
                        projection=devise, progress=progress, source=source, sentences=request.sentences,
                        reference=reference, label_prior=request.label_prior, image_model=request.model)
    save_index(index, output)
    return BuildOutcome(index, output, space, notes)

def build_index(labels: LabelSet | None, text: TextEncoder, template: str = DEFAULT_TEMPLATE, kind: str = "flat",
                space: str = "text", examples: ExampleSet | None = None, encoder: ImageEncoder | None = None,
                projection: LinearProjection | None = None, progress: Progress | None = None,
                source: str = "", sentences: bool = False, reference: ReferencePhotos | None = None,
                label_prior: str = "auto", image_model: str | None = None) -> LabelIndex:
    """Embed text labels and/or photo-taught labels into one index in the text or visual space.

    The template really embedded is decided here (`gloss` without descriptions is `name`) and
    recorded, so that ConSE embeds its seen classes the same way. `sentences`: the labels are sentences
    to rank for photos, embedded as written (learn.sentence_index). Text labels alone (no photos, text space)
    get the label-prior correction `label_prior` asks for (auto, off or a method; learn.label_correction).
    `reference`: photos to correct sentences' or labels' hubness against, default the shipped photo prior of
    `image_model` (default: the manifest's image model; a joint image tower's labels come from its text tower).
    """
    if space not in SPACES:
        raise ZsclfError(f"unknown space {space!r}: choose text or visual")
    labels, replaced = _split_labels(labels, examples)
    if not labels and examples is None:
        raise ZsclfError("nothing to index: give a label file and/or --examples")
    if sentences and (examples is not None or space != "text"):
        raise ZsclfError("a sentence index is built from text alone, in the text space")
    if labels:
        template = SENTENCE_TEMPLATE if sentences else effective_template(labels, template)
    names = (labels.names if labels else []) + (examples.names if examples else [])
    if len(set(names)) != len(names):
        dup = Counter(names).most_common(1)[0][0]
        raise ZsclfError(f"label {dup!r} appears twice; label names must be unique (ids may differ)")
    if (examples is not None or space == "visual") and encoder is None:
        raise ValueError("photo-taught labels and the visual space need the image encoder")
    text_space = TextSpace(text.ref, template)
    parts, ids, parents, text_to_visual = [], [], [], None
    if labels:
        vectors, text_to_visual = _text_vectors(labels, text, text_space, space, encoder, progress)
        parts.append(vectors)
        ids += labels.ids
        parents += labels.parents
    photo_queries = photos = transform = None
    if examples is not None:
        assert encoder is not None
        protos, photo_queries, transform, used = _photo_vectors(examples, encoder, text, text_space, space, projection,
                                                            bool(parts), progress)
        parts.append(protos)
        ids += examples.ids
        parents += examples.parents
        photos = PhotoLabels(len(examples.names), examples.count, replaced, used)
    vectors = np.vstack(parts)
    calibration = None
    if photo_queries is not None and len(parts) > 1:  # text-taught and photo-taught labels side by side
        vectors, calibration = calibrate(vectors, photo_queries)
    image = None  # the image model whose outputs the vectors depend on (a sentence index: its biases)
    if encoder is not None and (examples or space == "visual" or (sentences and reference is not None)):
        image = encoder.ref
    if sentences:
        image = image or model_spec(image_model, "image").vector_ref()
        vectors, calibration = sentence_vectors(vectors, text, image, reference)
    prior_choice, queries = None, SENTENCE_QUERIES if sentences else None
    if labels and examples is None and space == "text" and not sentences:
        correction = correct_labels(vectors, text, text_space, label_prior, image_model, reference)
        vectors, calibration, prior_choice, queries = (correction.rows, correction.calibration, correction.choice,
                                                       correction.queries)
        if calibration is not None:  # the corrections are one image model's: index and photos must match
            image = encoder.ref if encoder is not None else model_spec(image_model, "image").vector_ref()
    meta = IndexMeta(
        format=FORMAT_VERSION, kind=kind, metric="inner_product", dim=vectors.shape[1], count=len(names),
        space=space, template=template, text_encoder=text.ref, created=now(), source=source,
        zsclf_version=__version__,
        image_encoder=image,
        projection=ProjectionRef("devise", projection.sha256) if projection is not None else None,
        visual_transform=transform or ("centre" if space == "visual" else None),
        text_to_visual=text_to_visual, photos=photos, calibration=calibration,
        queries=queries, label_prior=prior_choice)
    index = LabelIndex.build(vectors, names, ids, meta, normalise=calibration is None, parents=parents)
    if kind == "hnsw":
        exact = LabelIndex.build(vectors, names, ids, meta.with_(kind="flat"), normalise=calibration is None)
        index.meta = meta.with_(hnsw_recall_at_10=round(hnsw_recall(index, exact), 4))
    if space == "text":  # ConSE's class vectors ready for predict (a joint image tower needs none)
        queries_for(encoder.spec if encoder else model_spec(image_model, "image"), meta.query_space, embed=text.embed)
    return index

def _reference_photos(where: Path, encoder: ImageEncoder, notes: list[str],
                      progress: Progress | None) -> ReferencePhotos:
    """The reference photos under `where` as the image model sees them; unreadable ones are noted and skipped."""
    from ..data.image_files import expand_inputs

    paths = even_sample(list(expand_inputs([str(where)])))
    encoded = encode_images(encoder, paths, progress=counter(progress, "encoding reference photos", len(paths)))
    if encoded.errors:
        first = next(iter(encoded.errors.values()))
        notes.append(f"--reference-photos: {len(encoded.errors)} of {len(paths)} photos could not be read and "
                     f"were left out (first: {first})")
    if len(encoded.ok) < MIN_REFERENCE_PHOTOS:
        why = f" (first unreadable: {next(iter(encoded.errors.values()))})" if encoded.errors else ""
        raise ZsclfError(f"--reference-photos {where}: {len(encoded.ok)} readable photos; "
                         f"at least {MIN_REFERENCE_PHOTOS} are needed to say what a typical photo is{why}")
    return ReferencePhotos(encoded.features, encoded.logits,
                           f"{len(encoded.ok)} reference photos from {where.name or where}")


def _text_vectors(labels: LabelSet, text: TextEncoder, text_space: TextSpace, space: str,
                  encoder: ImageEncoder | None, progress: Progress | None) -> tuple[np.ndarray, TextToVisual | None]:
    """Normalised label vectors in `space` for text labels (and how they were mapped to the visual space)."""
    vectors = text.embed(labels.texts(text_space.template), progress=counter(progress, "embedding labels", len(labels)))
    if space != "visual":
        return normalize(vectors), None
    assert encoder is not None
    rows = encoder.classifier_rows()
    vectors = normalize(vectors @ text_to_visual_map(seen_class_embeddings(text_space, text.embed), rows).T)
    seen = {wnid: c for c, wnid in enumerate(imagenet1k().ids)}
    is_seen = [j for j, label_id in enumerate(labels.ids) if label_id in seen]
    for j in is_seen:  # a class the CNN was trained on already has its visual vector
        vectors[j] = rows[seen[labels.ids[j]]]
    return normalize(vectors), TextToVisual("ridge (alpha 0.1) on 1,000 (label embedding, classifier row) pairs",
                                            len(is_seen))

def _photo_vectors(examples: ExampleSet, encoder: ImageEncoder, text: TextEncoder, text_space: TextSpace, space: str,
                   devise: LinearProjection | None, with_text: bool,
                   progress: Progress | None) -> tuple[np.ndarray, np.ndarray, str | None, str]:
    """Prototype per photo-taught label, the reference queries for calibration, the visual transform used
    (None in the text space) and the projection's name."""
    flat = [p for photos in examples.paths for p in photos]
    encoded = encode_images(encoder, flat, progress=counter(progress, "encoding photos", len(flat)))
    if encoded.errors:
        first = next(iter(encoded.errors.values()))
        raise ZsclfError(f"{len(encoded.errors)} example photos could not be read (first: {first})")
    transform = None
    projection: Projection
    if space == "visual":
        transform = "centre" if with_text else "sqrt"  # text labels present: centre (see VisualProjection)
        projection = VisualProjection(encoder.visual_statistics()[1], transform)
        pseudo = normalize(encoder.classifier_rows())
    else:
        if devise is not None:
            compat.check_projection(devise, encoder.ref, text_space, "--projection")
        projection = devise if devise is not None else queries_for(encoder.spec, text_space, embed=text.embed)
        pseudo = projection.seen if isinstance(projection, ConSE) else np.zeros((0, projection.dim), np.float32)
    queries = projection.project(encoded.features, encoded.logits)
    bounds = np.cumsum([0] + [len(p) for p in examples.paths])
    protos = np.stack([queries[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    used = "visual" if space == "visual" else projection.name
    return normalize(protos), np.vstack([queries, pseudo]), transform, used

def _split_labels(labels: LabelSet | None, examples: ExampleSet | None) -> tuple[LabelSet | None, int]:
    """Drop text-only labels that are also taught by photos (photos win); returns the rest and the count dropped."""
    if labels is None or examples is None:
        return labels, 0
    taught = {i for i in examples.ids if i} | set(examples.names)
    keep = [j for j, (n, i) in enumerate(zip(labels.names, labels.ids, strict=True))
            if (i or n) not in taught and n not in taught]
    rest = LabelSet([labels.names[j] for j in keep], [labels.ids[j] for j in keep],
                    [labels.synonyms[j] for j in keep], [labels.descriptions[j] for j in keep],
                    [labels.parents[j] for j in keep])
    return rest, len(labels) - len(keep)
