"""The exceptions of the client SDK, all under one base class.

```
ClientError                  anything the SDK raises on purpose
 ├── ApiError                the server answered an HTTP call with an error status
 │    └── AuthError          401: the credentials or the token were refused
 ├── Unreachable             the server could not be reached (an HTTP call, or the socket
 │                           after `Options.max_attempts` failed attempts)
 ├── Replaced                the socket was closed with 4409: the user opened more sockets
 │                           than the server allows, and this one was the oldest
 └── ListenerOverflow        an event iterator or the callbacks fell too far behind
```
"""

from typing import Any

__all__ = ["ApiError", "AuthError", "ClientError", "ListenerOverflow", "Replaced",
           "Unreachable"]


class ClientError(Exception):
    """The base class of every error the SDK raises on purpose."""


class ApiError(ClientError):
    """An HTTP call answered with an error status; `status` and the server's `detail`."""

    def __init__(self, method: str, path: str, status: int, detail: Any) -> None:
        self.method, self.path, self.status, self.detail = method, path, status, detail
        super().__init__(f"{method} {path}: {status} {detail}")


class AuthError(ApiError):
    """401: the email and password, or the token, were refused. Not retried."""


class Unreachable(ClientError):
    """The server could not be reached."""


class Replaced(ClientError):
    """Close 4409: a newer socket of the same user replaced this one. Not retried, since
    reconnecting would close another of the user's sockets, and so on for ever."""


class ListenerOverflow(ClientError):
    """An event iterator or the callbacks did not keep up: more events waited than allowed."""
