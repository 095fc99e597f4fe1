"""The real-time channel: a python-socketio server that turns validated events into domain commands."""
