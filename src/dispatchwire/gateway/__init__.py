"""The real-time gateway: the `/ws` endpoint, its sockets, and delivery of stored events."""
