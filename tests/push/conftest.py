"""Push tests run the real server (`live`) beside the local push services of support.py."""

from tests.gateway.conftest import live

__all__ = ["live"]
