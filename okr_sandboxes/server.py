"""Serving a sandbox app: uvicorn in a background thread, on a port the OS picked, optional TLS.

The socket is bound here (``SO_REUSEADDR``, port 0 unless a port is given) and handed to uvicorn,
so the real port is known before the server starts and two parallel test workers never race for
a port. ``stop()`` asks uvicorn to exit and joins the thread; idle keep-alive connections are
closed and in-flight requests get ``graceful`` seconds to finish.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class TLSFiles:
    """A test CA (``ca_bundle``: give it to clients as ``verify=``) and a server certificate."""

    ca_bundle: Path
    cert: Path
    key: Path


def make_tls_files(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TLSFiles:
    """Write a ``trustme`` CA and a server cert for ``hosts`` into ``directory``.

    An existing CA in the directory (``ca.pem`` + ``ca-key.pem``) is reused, so clients that
    trust it keep working across sandbox restarts.
    """
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if ca_path.exists() and ca_key_path.exists():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), ca_key_path.read_bytes())
    else:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(ca_path))
        ca.private_key_pem.write_to_path(str(ca_key_path))
        ca_key_path.chmod(0o600)
    server_cert = ca.issue_cert(*hosts)
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    server_cert.private_key_pem.write_to_path(str(key_path))
    key_path.chmod(0o600)
    cert_path.write_bytes(b"".join(blob.bytes() for blob in server_cert.cert_chain_pems))
    return TLSFiles(ca_bundle=ca_path, cert=cert_path, key=key_path)


class ServerThread:
    """Runs one ASGI app with uvicorn in a daemon thread."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TLSFiles | None = None,
        log_level: str = "warning",
        graceful: int = 2,
    ) -> None:
        self.host = host
        self.tls = tls
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # create_server sets SO_REUSEADDR on POSIX: a restart on a fixed port does not trip
        # over connections still in TIME_WAIT.
        self._socket = socket.create_server((host, port), family=family, backlog=2048)
        self.port: int = self._socket.getsockname()[1]
        options: dict[str, Any] = {}
        if tls is not None:
            options = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=graceful,
            timeout_keep_alive=30,
            **options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``scheme://host:port`` with no trailing slash."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported to the starting thread
            self._error = exc

    def start(self, timeout: float = 10.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server did not start in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
