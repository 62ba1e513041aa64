"""Starting a server in another process without waiting a fixed time for it.

The test binds and listens on a loopback socket itself and hands it to the server (gunicorn's
``--bind fd://N``, werkzeug's ``make_server(fd=N)``). Connections made before the server is ready wait in
the socket's backlog, so the first request is simply answered once the server runs: nothing is polled or
slept. The test's own copy of the socket is closed once the server holds it, so if the server dies, the
request fails at once (connection reset) instead of waiting out its timeout.

Imported by the test modules (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

__all__ = ["first_answer", "listening_socket", "spawn_on"]


def listening_socket() -> socket.socket:
    """A loopback socket on a free port, already listening, that a child process may inherit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def spawn_on(sock: socket.socket, command: Callable[[int], Sequence[str]], **popen) -> tuple[subprocess.Popen, str]:
    """Start ``command(fd)`` serving on ``sock``; return the process and its base URL. The caller's copy of
    the socket is closed."""
    port = sock.getsockname()[1]
    try:
        process = subprocess.Popen(list(command(sock.fileno())), pass_fds=(sock.fileno(),), **popen)
    finally:
        sock.close()
    return process, f"http://127.0.0.1:{port}"


def first_answer(url: str, timeout: float = 120) -> int:
    """The status of a GET to ``url``, waiting (up to ``timeout``) for the server to take it from the backlog."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
