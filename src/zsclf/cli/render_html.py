"""`--format html`: one self-contained HTML page (a contact sheet) for `predict` and `search`.

Nothing is fetched from elsewhere: thumbnails are embedded as `data:` JPEGs (at most THUMB_SIDE pixels a
side, made with Pillow), the style sheet is inline and allowed by its hash in a Content-Security-Policy that
allows nothing else (no scripts at all). Every path, label, id and message is escaped with `html.escape`.
The page is written as results come (one card per input), like the other streaming writers.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import TextIO

STYLE = """body{font:14px system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:340px}
.card.error{border-color:#c33}.card img{display:block;max-width:160px;max-height:160px;margin-bottom:6px}
.path{font-family:monospace;word-break:break-all;font-size:12px;color:#555}
.err{color:#c33}.hedged{font-weight:bold;margin-top:4px}
table{border-collapse:collapse;width:100%}td{padding:1px 4px;vertical-align:middle}
meter{width:90px}.noimg{width:160px;height:60px;background:#eee;color:#888;font-size:12px;padding:4px}
h2{font-size:16px;margin:1em 0 .4em}"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = f"default-src 'none'; img-src data:; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; form-action 'none'"


def page_head(title: str) -> str:
    """The page up to its body: charset, the strict CSP, the inline style."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            f'<meta name="referrer" content="no-referrer">\n<title>{escape(title)}</title>\n'
            f"<style>{STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n")


def thumbnail_tag(path: str) -> str:
    """An <img> with the photo's thumbnail as a data: URI, or a grey box saying why there is none."""
    from ..core import uri
    from ..errors import ImageError
    from ..pipeline.thumbnails import thumbnail_jpeg

    if uri.is_uri(path):
        return '<div class="noimg">(no preview for a URI)</div>'
    try:
        data = base64.b64encode(thumbnail_jpeg(path)).decode()
    except ImageError:
        return '<div class="noimg">(no preview)</div>'
    return f'<img alt="" src="data:image/jpeg;base64,{data}">'


def score_row(name: str, ident: str, score: float) -> str:
    """A table row: label (id as its tooltip), a bar and the number."""
    bar = min(max(score, 0.0), 1.0)
    return (f'<tr><td title="{escape(ident)}">{escape(name)}</td><td><meter min="0" max="1" value="{bar:.4f}">'
            f"</meter></td><td>{score:.3f}</td></tr>")


class HtmlWriter:
    """The contact sheet of `predict`: one card per input (thumbnail, path, labels with score bars, the hedged
    answer when there is one, or the error)."""

    streaming = True
    title = "zsclf predict"

    def __init__(self, stream: TextIO, delimiter: str | None = None, hedged: bool = False) -> None:
        self.stream = stream
        self.stream.write(page_head(self.title) + '<div class="grid">\n')

    def card(self, result) -> str:
        path = f'<div class="path">{escape(result.path)}</div>'
        if result.error is not None:
            return f'<div class="card error">{path}<div class="err">error: {escape(result.error)}</div></div>\n'
        rows = "".join(score_row(p.label, p.id, p.score) for p in result.predictions or [])
        body = f"<table>{rows}</table>" if rows else "<div>(no label above --min-score)</div>"
        h = getattr(result, "hedged", None)
        if h is not None:
            body += (f'<div class="hedged" title="{escape(h.id)}">hedged: {escape(h.label)} '
                     f"(p {h.probability:.3f}, depth {h.depth})</div>")
        return f'<div class="card">{thumbnail_tag(result.path)}{path}{body}</div>\n'

    def write(self, result) -> None:
        self.stream.write(self.card(result))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("</div></body></html>\n")
        self.stream.flush()


class SearchHtml(HtmlWriter):
    """The contact sheet of `search`: per query a heading and a grid of its photos with rank and score."""

    title = "zsclf search"

    def __init__(self, stream: TextIO, delimiter: str | None = None, hedged: bool = False) -> None:
        self.stream = stream
        self.stream.write(page_head(self.title))

    def card(self, result) -> str:
        cards = "".join(f'<div class="card">{thumbnail_tag(hit.path)}<div>#{rank} · {hit.score:.3f}</div>'
                        f'<div class="path">{escape(hit.path)}</div></div>\n'
                        for rank, hit in enumerate(result.hits, start=1))
        return (f"<h2>{escape(result.query)}</h2>\n<div class=\"grid\">\n"
                f"{cards or '<div>(the collection is empty)</div>'}</div>\n")

    def close(self) -> None:
        self.stream.write("</body></html>\n")
        self.stream.flush()
