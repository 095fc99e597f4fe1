"""One schema per REST message: a pydantic model for every request body, query and answer.

The handlers read what a client sends through these models (:mod:`web.payloads`), answer with
them, and ``GET /api/openapi.json`` is generated from them (:mod:`web.openapi`), so the document,
the checks and the answers cannot drift apart. One module per API area; :mod:`web.schemas.base`
holds the three kinds of message and the field types they share.
"""
