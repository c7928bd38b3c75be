"""baselines runs as transforms (being written)."""
