"""Image-sentence pairs (`eval-retrieval`, `train --pairs`): a TSV/CSV with a header naming an image
column and a sentence column (other columns ignored), e.g. COCO's `image_path, caption_id, caption`.

Several sentences per image are the usual case (COCO has five); images are grouped by path in
order of first appearance. Relative paths are relative to the file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ZsclfError
from .dataset import PATH_COLUMNS
from .tables import cell, pick_column, read_table

SENTENCE_COLUMNS = ("caption", "sentence", "text", "description")


@dataclass(frozen=True)
class Pairs:
    """Distinct images, the sentences, and for each sentence the position of its image in `images`."""

    images: list[str]
    sentences: list[str]
    image_of: list[int]
    source: str = ""

    def subset(self, image_rows: list[int]) -> Pairs:
        """The pairs of some images only (in the order given): for cross-validation folds."""
        position = {row: i for i, row in enumerate(image_rows)}
        keep = [c for c, row in enumerate(self.image_of) if row in position]
        return Pairs([self.images[r] for r in image_rows], [self.sentences[c] for c in keep],
                     [position[self.image_of[c]] for c in keep], self.source)


def read_pairs(path: str | Path) -> Pairs:
    """Read a pairs file; one ZsclfError naming the file (and line) for anything unusable."""
    path = Path(path)
    rows = [(n, r) for n, r in read_table(path, "image-sentence pairs") if any(c.strip() for c in r)]
    if not rows:
        raise ZsclfError(f"{path}: no image-sentence pairs")
    header = rows[0][1]
    image_col, text_col = pick_column(header, PATH_COLUMNS), pick_column(header, SENTENCE_COLUMNS)
    if image_col is None or text_col is None:
        raise ZsclfError(f"{path}: the header must name an image column ({', '.join(PATH_COLUMNS)}) and a "
                         f"sentence column ({', '.join(SENTENCE_COLUMNS)}); it is {header}")
    images: dict[str, int] = {}
    sentences, image_of = [], []
    for lineno, row in rows[1:]:
        image, sentence = cell(path, lineno, row, image_col), cell(path, lineno, row, text_col)
        if not image or not sentence:
            raise ZsclfError(f"{path}:{lineno}: a row needs an image path and a sentence")
        image_of.append(images.setdefault(str(path.parent / image), len(images)))
        sentences.append(sentence)
    if len(images) < 2:
        raise ZsclfError(f"{path}: retrieval needs at least 2 images")
    return Pairs(list(images), sentences, image_of, str(path))
