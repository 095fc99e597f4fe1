"""Storage for the domain behind small async interfaces: the only place in ``rooms`` with I/O."""
