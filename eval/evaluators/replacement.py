"""``replacement``: the RAE metrics (being written)."""
