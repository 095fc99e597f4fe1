"""Many nodes as one service: the node registry, where each consult's media lives, and the bridge
that carries media calls to the node that holds them (through Redis)."""
