"""The HTTP face and the composition root: builds the stores, media and socket server from settings."""
