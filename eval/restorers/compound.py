"""compound runs as transforms (being written)."""
