"""`zsclf serve`: a local web page and JSON API over the classifier and a photo collection (extra `serve`:
Starlette + uvicorn). Only `cli` imports this group, and `predict` never does."""
