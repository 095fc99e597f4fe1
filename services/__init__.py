"""The use cases: what a patient, a nurse or a coordinator can do, one method each.

Each use case loads what it needs from the stores, lets ``rooms`` decide, stores the result and
announces it through :class:`services.ports.LiveRooms` (the socket server implements it; with
Redis the announcement reaches every node). The socket handlers (``signaling``) and the REST
handlers (``web``) both call these; neither edge calls the other, and a use case runs the same
on whichever node receives the request.
"""
