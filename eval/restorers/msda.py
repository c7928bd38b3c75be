"""msda runs as transforms (being written)."""
