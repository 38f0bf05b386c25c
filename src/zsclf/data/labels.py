"""Label files: user label lists (.txt/.tsv/.csv), the committed ImageNet sets, the WordNet hierarchy."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths
from ..core.fsio import read_text
from ..errors import ZsclfError
from .tables import cell, pick_column, read_table, split_lines

LABEL_COLUMNS = ("label", "name", "display_name", "class", "text")
ID_COLUMNS = ("id", "wnid", "synset", "label_id")
DESCRIPTION_COLUMNS = ("description", "gloss", "definition")
SYNONYM_COLUMNS = ("synonyms", "lemmas", "aliases")
PARENT_COLUMNS = ("parent", "parent_wnid", "hypernym_wnid", "hypernym")  # for labels that are not WordNet synsets

# What text is embedded for each label (see README "Label text"); "{name}" etc. are filled per label.
TEMPLATES = {
    "name": "{name}",
    "photo": "a photo of a {name}",
    "lemmas": "{lemmas}",
    "gloss": "{name}: {description}",
}
TEMPLATE_FIELDS = ("name", "lemmas", "description")
DEFAULT_TEMPLATE = "gloss"  # measured best on ImageNet hit@k and hp@k (README "Label text")


@dataclass
class LabelSet:
    """Labels with optional ids, synonyms and descriptions, index-aligned."""

    names: list[str]
    ids: list[str] = field(default_factory=list)
    synonyms: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)  # a WNID above a label that is not a synset (hedging)
    dropped_blank: int = 0
    dropped_duplicates: int = 0

    def __post_init__(self) -> None:
        n = len(self.names)
        self.ids = self.ids or [""] * n
        self.synonyms = self.synonyms or [""] * n
        self.descriptions = self.descriptions or [""] * n
        self.parents = self.parents or [""] * n

    def __len__(self) -> int:
        return len(self.names)

    def texts(self, template: str = DEFAULT_TEMPLATE) -> list[str]:
        """The strings to embed, one per label, from a template name or a format string."""
        fmt = check_template(template)
        out = []
        for name, syn, desc in zip(self.names, self.synonyms, self.descriptions, strict=True):
            lemmas = syn if syn else name
            if not desc and template == "gloss":
                out.append(name)  # no description to add: the name alone
                continue
            out.append(fmt.format(name=name, lemmas=lemmas, description=desc or name))
        return out


def check_template(template: str) -> str:
    """The format string of a template name or a user format string; anything else is one clear error."""
    fmt = TEMPLATES.get(template, template)
    allowed = ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(fmt) if f is not None]
    except ValueError as exc:
        raise ZsclfError(f"--template {template!r} is not a valid format string ({exc}); "
                         f"use one of {', '.join(TEMPLATES)} or text with {allowed}") from None
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown or not fields:
        what = f"has the unknown field {{{unknown[0]}}}" if unknown else "names no field"
        raise ZsclfError(f"--template {template!r} {what}: use one of {', '.join(TEMPLATES)} or text with {allowed}")
    return fmt


def _tidy(text: str) -> str:
    """Collapse any run of white space (tabs, form feeds, CR) to one space and trim."""
    return " ".join(text.split())


def effective_template(labels: LabelSet, template: str) -> str:
    """The template whose text is really embedded: `gloss` without any description is `name`.

    Recorded in the index, so ConSE's seen classes are embedded the same way as the labels.
    """
    return "name" if template == "gloss" and not any(labels.descriptions) else template


def read_labels(path: str | Path) -> LabelSet:
    """Read a label file: `.txt` (one label per line) or `.tsv`/`.csv` with a header row.

    The header must name a label column (label/name/...), and may name an id column (id/wnid),
    a description column (description/gloss), a synonyms column (synonyms/lemmas) and a parent column
    (parent/hypernym_wnid: the WNID a label without one of its own belongs under, for hedged answers).
    Blank lines and exact duplicate rows are dropped (counted); an empty result is an error.
    """
    path = Path(path)
    rows: list[tuple[str, str, str, str, str]] = []
    blank = 0
    if path.suffix.lower() in (".tsv", ".csv"):
        table = read_table(path, "label file")
        if not table:
            raise ZsclfError(f"{path}: empty label file")
        header = table[0][1]
        col = pick_column(header, LABEL_COLUMNS)
        if col is None:
            raise ZsclfError(f"{path}: header {header} has no label column (one of {', '.join(LABEL_COLUMNS)})")
        cols = [col, pick_column(header, ID_COLUMNS), pick_column(header, SYNONYM_COLUMNS),
                pick_column(header, DESCRIPTION_COLUMNS), pick_column(header, PARENT_COLUMNS)]
        for lineno, record in table[1:]:
            if not any(c.strip() for c in record):
                blank += 1
                continue
            values = tuple(_tidy(cell(path, lineno, record, c)) for c in cols)
            if not values[0]:
                raise ZsclfError(f"{path}:{lineno}: empty label")
            rows.append(values)  # type: ignore[arg-type]
    else:
        for line in split_lines(read_text(path, "label file", 1 << 30)):
            label = _tidy(line)
            if not label:
                blank += 1
                continue
            rows.append((label, "", "", "", ""))
    unique = list(dict.fromkeys(rows))
    if not unique:
        raise ZsclfError(f"{path}: empty label file (no labels)")
    ids = [r[1] for r in unique]
    if any(ids) and len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ZsclfError(f"{path}: id {dup!r} appears on more than one label")
    return LabelSet(
        names=[r[0] for r in unique], ids=ids, synonyms=[r[2] for r in unique],
        descriptions=[r[3] for r in unique], parents=[r[4] for r in unique], dropped_blank=blank,
        dropped_duplicates=len(rows) - len(unique),
    )


def label_list(text: str, what: str = "--labels") -> LabelSet:
    """Labels given inline, separated by commas ("cat, dog, red car"): trimmed, blanks and repeats dropped
    (counted); fewer than two labels is an error (one label would be every photo's answer)."""
    names = [_tidy(part) for part in text.split(",")]
    unique = list(dict.fromkeys(n for n in names if n))
    if len(unique) < 2:
        raise ZsclfError(f"{what} {text!r}: give at least two labels separated by commas, or a label file "
                         "(no file of that name exists)")
    return LabelSet(names=unique, dropped_blank=sum(1 for n in names if not n),
                    dropped_duplicates=sum(1 for n in names if n) - len(unique))


def read_labels_option(value: str, what: str = "--labels") -> LabelSet:
    """`--labels`: a label file when a file of that name exists (anything `read_labels` reads), else an inline
    comma-separated list (`label_list`)."""
    path = Path(value).expanduser()
    try:
        is_file = path.exists() or path.is_symlink()
    except (OSError, ValueError):  # too long for a file name, or a NUL in it: a list
        is_file = False
    return read_labels(path) if is_file else label_list(value, what)


def imagenet1k() -> LabelSet:
    """The 1,000 ImageNet-1K training classes in the CNN's logit order."""
    return read_labels(paths.labels_dir() / "imagenet1k.tsv")


def imagenet21k_path() -> Path:
    """The committed ImageNet-21K label file (21,841 WordNet synsets)."""
    return paths.labels_dir() / "imagenet21k.tsv"


def wordnet_names_path() -> Path:
    """The committed display names of all WordNet 3.0 noun synsets (wnid, name)."""
    return paths.labels_dir() / "wordnet_names.tsv"


def read_wordnet_names(path: Path | None = None) -> dict[str, str]:
    """WNID -> display name for every WordNet 3.0 noun synset ({} when the file is missing)."""
    path = path or wordnet_names_path()
    try:
        text = read_text(path, "WordNet names", 64 << 20)
    except ZsclfError:
        return {}
    names = {}
    for line in split_lines(text)[1:]:
        wnid, _, name = line.partition("\t")
        names[wnid] = name
    return names


def read_hypernyms(path: Path | None = None) -> dict[str, list[str]]:
    """WordNet 3.0 noun hypernym graph: WNID -> parent WNIDs (hypernyms and instance hypernyms)."""
    path = path or paths.labels_dir() / "wordnet_hypernyms.tsv"
    graph: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            wnid, _, parents = line.rstrip("\n").partition("\t")
            graph[wnid] = parents.split()
    return graph
