"""The media plane: server-side WebRTC peers that carry each participant's audio and video.

Signaling talks to it only through :class:`media.backend.MediaBackend`, so the implementation
behind it (an in-process relay, an SFU in worker processes) can change without touching signaling.
"""
