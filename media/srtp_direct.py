"""SRTP protect and unprotect straight through pylibsrtp's C binding, for the per-packet path.

pylibsrtp's ``Session.protect`` and ``unprotect`` type-check the packet, allocate a C ``int`` and
go through two Python calls before libsrtp runs: about 0.5 µs per packet, a third of what the
cipher itself costs. A media worker does it for every packet in and every copy out, so
:class:`SrtpCall` binds one session's call once and keeps the length cell. It writes into the
session's own 1,500-byte buffer as pylibsrtp does (a call copies its result out before the next
one starts: the worker is single-threaded), checks the same length limit, and raises the same
``pylibsrtp.Error`` on any libsrtp failure.

This reaches into pylibsrtp 1.x internals (``Session._srtp``, ``_cdata``, ``_buffer`` and the
``_binding`` module); :func:`srtp_direct_problems` names whichever moved, and :func:`direct_call`
answers None then, so callers keep pylibsrtp's own methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pylibsrtp import ERRORS, SRTP_MAX_SRTCP_TRAILER_LEN, SRTP_MAX_TRAILER_LEN, Session
from pylibsrtp import Error as SrtpError

try:
    from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - only if pylibsrtp's layout changes
    ffi = lib = None

_SESSION_STATE: Final = ("_srtp", "_cdata", "_buffer")
_CALLS: Final = {
    "protect": ("srtp_protect", SRTP_MAX_TRAILER_LEN),
    "unprotect": ("srtp_unprotect", 0),
    "protect_rtcp": ("srtp_protect_rtcp", SRTP_MAX_SRTCP_TRAILER_LEN),
    "unprotect_rtcp": ("srtp_unprotect_rtcp", 0),
}


class SrtpCall:
    """One SRTP operation of one session, bound once: ``call(packet) -> bytes``."""

    __slots__ = ("_buffer", "_cdata", "_function", "_length", "_room", "_state", "session")

    def __init__(self, session: Session, operation: str) -> None:
        name, trailer = _CALLS[operation]
        internals: Any = session
        self.session = session  # keeps the C session alive as long as the call is
        self._function: Callable[[Any, Any, Any], int] = getattr(lib, name)
        self._state = internals._srtp[0]
        self._cdata = internals._cdata
        self._buffer = internals._buffer
        self._length = ffi.new("int *")
        self._room = len(internals._cdata) - trailer

    def __call__(self, packet: bytes) -> bytes:
        size = len(packet)
        if size > self._room:
            raise ValueError("packet is too long")
        buffer = self._buffer
        buffer[0:size] = packet
        length = self._length
        length[0] = size
        status = self._function(self._state, self._cdata, length)
        if status:
            raise SrtpError(ERRORS[status])
        result: bytes = buffer[0 : length[0]]  # cffi copies the slice out as bytes
        return result


def srtp_direct_problems() -> list[str]:
    """What of pylibsrtp's internals the direct calls need is missing (empty when all is there)."""
    if ffi is None or lib is None:
        return ["pylibsrtp._binding (ffi, lib) is missing"]
    problems = [
        f"pylibsrtp's C library has no {name}" for name, _ in _CALLS.values() if not hasattr(lib, name)
    ]
    session = Session()
    problems += [
        f"pylibsrtp.Session instances have no attribute {name}"
        for name in _SESSION_STATE
        if not hasattr(session, name)
    ]
    return problems


_USABLE: Final = not srtp_direct_problems()


def direct_call(session: Session, operation: str) -> Callable[[bytes], bytes]:
    """``session``'s ``operation`` as a bound :class:`SrtpCall`, or pylibsrtp's own method if its
    internals are not the ones this module was written against."""
    if _USABLE:
        return SrtpCall(session, operation)
    method: Callable[[bytes], bytes] = getattr(session, operation)
    return method
