"""jaxpriv: privacy-preserving motion-sensor data in JAX/Flax."""

__version__ = "0.1.0"
