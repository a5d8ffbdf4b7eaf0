"""Connections that cost only their time: uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

uvicorn closes a connection that stays idle between requests (``timeout_keep_alive``), but not one that never
finishes a request head: a client that connects and sends nothing, or a byte of header now and then, would hold
its socket (and its place in ``limit_concurrency``) for as long as it liked. Here a connection that has not
delivered a complete request head :data:`HEAD_SECONDS` after it opened, or after its last response, is closed.
(Bodies have their own limits: :class:`u2live.serve.uploads.BodyLimit`.)
"""
from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0
#: open connections at once (uvicorn's limit_concurrency: past it, requests get 503); each costs ~100 KB at most
MAX_CONNECTIONS = 512


class HeadDeadlineProtocol(H11Protocol):
    """H11Protocol closing a connection whose next request head is not complete within :data:`HEAD_SECONDS`."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self.loop.call_later(HEAD_SECONDS, self._head_deadline, self.cycle)

    def _head_deadline(self, cycle_when_armed) -> None:
        """No new request began since the deadline was set (the cycle is the same) and none is in progress."""
        if self.transport.is_closing() or self.cycle is not cycle_when_armed:
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
