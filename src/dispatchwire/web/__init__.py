"""The web pages: `/admin`, `/master` and `/` (clients), plain HTML, CSS and JavaScript modules.

They are clients of the public contract, nothing more: the REST API and the `/ws` protocol.
"""
