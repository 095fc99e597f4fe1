"""The domain of Teleconsulta: consults, roles, join tokens and the session log.

Plain Python with no I/O; storage is behind the async interfaces in :mod:`rooms.store`.
"""
