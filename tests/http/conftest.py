"""HTTP plumbing tests share the gateway's real-server fixtures."""

from tests.gateway.conftest import live

__all__ = ["live"]
