"""dispatchwire: a real-time dispatch backend for field-service companies."""

__version__ = "0.1.0"
