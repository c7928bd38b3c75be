"""gen runs as transforms (being written)."""
