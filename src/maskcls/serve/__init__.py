"""The service: an HTTP API and a live page that classify the faces of a photo, and the relabeling tool.

- :mod:`maskcls.serve.classify`: photo bytes → the faces with their boxes and 18-class predictions (no HTTP).
- :mod:`maskcls.serve.app`: the FastAPI app of ``maskcls serve`` (``/v1/classify``, ``/healthz``, ``/v1/model``,
  the page at ``/``).
- :mod:`maskcls.serve.relabel_app`: the FastAPI app of ``maskcls relabel`` (people, photos, corrections).
- ``pages/``: the static HTML, JavaScript and CSS of both pages.

FastAPI and uvicorn are imported only by the modules that need them, never by ``maskcls --help``.
"""
