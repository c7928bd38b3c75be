"""rae runs as transforms (being written)."""
