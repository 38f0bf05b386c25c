"""Writing search results: the `predict` contract with (query, rank, path, score) rows.

JSON Lines: `{"query": ..., "results": [{"path": ..., "score": ...}]}` per query; CSV/TSV: a header,
then one `query, rank, path, score` row per hit; a table for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..collection.collection import Hit, describe_query
from .render import DelimitedWriter, JsonlWriter, TableWriter, make_writer
from .render_html import SearchHtml
from .terminal import plain


@dataclass
class SearchResult:
    """One query's hits (`error` is always None: a failing query stops the command)."""

    query: str
    hits: list[Hit] = field(default_factory=list)
    error: str | None = None

    @staticmethod
    def describe(text: str | None, like: object, plus: Sequence[str] | None, minus: Sequence[str] | None) -> str:
        """The query as one line: `text like PHOTO + plus - minus`."""
        return describe_query(text, like, plus, minus)


class SearchJsonl(JsonlWriter):
    def record(self, result: SearchResult) -> dict:
        return {"query": result.query, "results": [{"path": h.path, "score": round(h.score, 4)} for h in result.hits]}


class SearchDelimited(DelimitedWriter):
    columns = ("query", "rank", "path", "score")

    def rows(self, result: SearchResult) -> Iterable[tuple]:
        for rank, hit in enumerate(result.hits, start=1):
            yield (result.query, rank, hit.path, f"{hit.score:.4f}")


class SearchTable(TableWriter):
    columns = (("query", "left"), ("#", "right"), ("photo", "left"), ("score", "right"))

    def add_rows(self, table, result: SearchResult, last: bool) -> None:
        query = plain(result.query)
        for rank, hit in enumerate(result.hits, start=1):
            table.add_row(query if rank == 1 else "", str(rank), plain(hit.path), f"{hit.score:.3f}",
                          end_section=rank == len(result.hits) and not last)
        if not result.hits:
            table.add_row(query, "", "[dim](the collection is empty)[/dim]", "")


make_search_writer = partial(make_writer, kinds=(SearchJsonl, SearchDelimited, SearchTable, SearchHtml))
