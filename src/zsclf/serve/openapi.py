"""The OpenAPI description of `zsclf serve`'s JSON API (served at /openapi.json)."""

from __future__ import annotations

from ..version import __version__

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_K = {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}


def _json(ref: str, what: str) -> dict:
    return {"description": what, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi() -> dict:
    """OpenAPI 3.1 for the API: predict, search, thumbnails, health; a bearer token when the server has one."""
    text = {"type": "string", "maxLength": 1000}
    return {
        "openapi": "3.1.0",
        "info": {"title": "zsclf serve", "version": __version__,
                 "description": "Zero-shot labels for an image, and search over a photo collection. Errors are "
                                "{\"error\": \"...\"}; 503 when the server's queue is full (retry)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Prediction": {"type": "object", "properties": {
                    "path": {"type": "string"}, "error": {"type": "string"},
                    "predictions": {"type": "array", "items": {"type": "object", "properties": {
                        "label": {"type": "string"}, "id": {"type": "string"}, "score": {"type": "number"}}}},
                    "hedged": {"type": "object", "properties": {
                        "label": {"type": "string"}, "id": {"type": "string"}, "probability": {"type": "number"},
                        "depth": {"type": "integer"}}}}},
                "Search": {"type": "object", "properties": {
                    "query": {"type": "string"},
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "integer"}, "path": {"type": "string"}, "score": {"type": "number"}}}}}},
            }},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/predict": {"post": {
                "summary": "Ranked labels for one image (the body: its bytes, at most 20 MB); the object of one "
                           "`zsclf predict --format jsonl` line",
                "parameters": [_K],
                "requestBody": {"required": True, "content": {"application/octet-stream": {}, "image/*": {}}},
                "responses": {"200": _json("Prediction", "labels"), "400": _ERROR, "401": _ERROR, "413": _ERROR,
                              "503": _ERROR}}},
            "/v1/search": {"get": {
                "summary": "Photos of the collection for a sentence (q) and/or like a photo (its id), with +/- words",
                "parameters": [{"name": "q", "in": "query", "schema": text},
                               {"name": "like", "in": "query", "schema": {"type": "integer"}},
                               {"name": "plus", "in": "query", "schema": {"type": "array", "items": text}},
                               {"name": "minus", "in": "query", "schema": {"type": "array", "items": text}}, _K],
                "responses": {"200": _json("Search", "hits, best first"), "400": _ERROR, "401": _ERROR,
                              "503": _ERROR}}},
            "/v1/photos/{id}/thumbnail": {"get": {
                "summary": "A JPEG thumbnail (at most 160 pixels a side) of a photo of the collection",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, "400": _ERROR,
                              "401": _ERROR, "404": _ERROR, "503": _ERROR}}},
            "/healthz": {"get": {"summary": "Liveness and what is loaded", "security": [],
                                 "responses": {"200": {"description": "ok"}}}},
        },
    }
