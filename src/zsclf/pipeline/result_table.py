"""Results as an Arrow table: the rows `zsclf batch` writes to Parquet (pyarrow is imported here only).

One row per input:

| column | type | value |
|---|---|---|
| path   | string (not null)  | the input as given |
| labels | list<string>       | top-k label names, best first (null when the image failed) |
| ids    | list<string>       | their ids (WNIDs for the default index) |
| scores | list<double>       | their scores, exactly as `predict` gives them |
| error  | string             | one-line reason the image could not be read (null when it was) |

Text that is not valid UTF-8 (a path with undecodable bytes, kept as surrogate escapes) is
written with `\\udcXX` escapes, as `predict --format jsonl` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from .classifier import Result

COLUMNS = ("path", "labels", "ids", "scores", "error")


def result_schema() -> pa.Schema:
    """The fixed schema of every results table (and every Parquet part `zsclf batch` writes)."""
    import pyarrow as pa

    def listed(kind: pa.DataType) -> pa.DataType:
        return pa.list_(pa.field("element", kind))  # Parquet's name for list items: the same schema read back

    return pa.schema([
        pa.field("path", pa.string(), nullable=False),
        pa.field("labels", listed(pa.string())),
        pa.field("ids", listed(pa.string())),
        pa.field("scores", listed(pa.float64())),
        pa.field("error", pa.string()),
    ])


def arrow_text(text: str) -> str:
    """`text` with lone surrogates (undecodable path bytes) written as `\\udcXX`: valid UTF-8 for Arrow."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def results_table(results: Iterable[Result]) -> pa.Table:
    """An Arrow table (schema `result_schema()`) of classifier results, in their order."""
    import pyarrow as pa

    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for result in results:
        columns["path"].append(arrow_text(result.path))
        predictions = result.predictions
        columns["labels"].append(None if predictions is None else [p.label for p in predictions])
        columns["ids"].append(None if predictions is None else [p.id for p in predictions])
        columns["scores"].append(None if predictions is None else [p.score for p in predictions])
        columns["error"].append(None if result.error is None else arrow_text(result.error))
    return pa.Table.from_pydict(columns, schema=result_schema())
