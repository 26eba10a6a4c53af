"""HTTP serving of a saved model and index: a JSON API and a web page (Starlette + uvicorn).

``imagebind-lite serve --model DIR --index DIR`` runs it; in Python::

    from imagebind_lite.serving import QueryEngine, create_app
    app = create_app(QueryEngine("demo_output/model", "demo_output/index"))   # any ASGI server

``register_preview("tactile")`` adds a picture renderer for a modality's files on the page.
"""
from .app import create_app
from .engine import QueryEngine
from .previews import register_preview
from .queries import HttpError, Limits

__all__ = ["HttpError", "Limits", "QueryEngine", "create_app", "register_preview"]
