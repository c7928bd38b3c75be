"""Data layer: formats, the embedded simulator, windows, splits and scaling."""
