"""`zsclf search`: photos of a collection ranked for a sentence, an example photo, or arithmetic on both."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as opt
from .terminal import note


def search(
    queries: Annotated[list[str] | None, typer.Argument(help="Sentences to search for (one search each), or - to read one per line from stdin.")] = None,
    db: opt.Db = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Photos per query.")] = 10,
    like: Annotated[Path | None, typer.Option("--like", help="Rank by similarity to this photo (in the collection or not); it is left out of its own results.")] = None,
    plus: Annotated[list[str] | None, typer.Option("--plus", help="Add this sentence's vector to the query (repeatable).")] = None,
    minus: Annotated[list[str] | None, typer.Option("--minus", help="Subtract this sentence's vector from the query (repeatable).")] = None,
    weight: Annotated[float | None, typer.Option("--weight", help="Weight of each --plus/--minus sentence (default: 1 for a sentence query, 1.5 for a --like photo, as measured).")] = None,
    fmt: Annotated[opt.Format | None, typer.Option("--format", "-f", help="Output format (default: table on a terminal, else jsonl).")] = None,
) -> None:
    """Search a photo collection by text or by example photo (`--like`), with --plus/--minus arithmetic."""
    from ..collection.collection import Collection, check_queries
    from ..data.image_files import stdin_paths
    from ..errors import ZsclfError
    from .render import write_results
    from .render_search import SearchResult, make_search_writer

    texts = [q for item in queries or [] for q in (stdin_paths() if item == "-" else [item])]
    if not texts and like is None and not plus:
        raise ZsclfError("nothing to search for: give a sentence, --like PHOTO or --plus TEXT")
    check_queries(texts + (plus or []) + (minus or []))
    with Collection.open(db, readonly=True) as collection:
        def results():
            for text in texts or [None]:
                hits = collection.search(text, like, plus or [], minus or [], top_k, weight)
                yield SearchResult(SearchResult.describe(text, like, plus, minus), hits)

        write_results(results(), fmt.value if fmt else None, make=make_search_writer)
    if collection.unusable:
        note(f"{collection.unusable} photos of {collection.path} were left out: their stored vectors are not "
             f"finite (NaN); `zsclf photos FOLDER --db {collection.path}` reads them again")
