"""Running the server: in the foreground (``batchwright serve``) or in a background thread (tests, demo).

Usage from Python::

    with run_server(ServerConfig(data_dir=tmp, speed=INSTANT)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from batchwright.errors import BatchwrightError, ConfigError, os_error_reason
from batchwright.private_files import make_private_dir
from batchwright.server.app import create_app
from batchwright.server.config import ServerConfig
from batchwright.server.faults import FaultPlan, load_fault_plan
from batchwright.server.gate import TRANSPORT_KEY
from batchwright.server.storage import lock_data_dir

STARTUP_SECONDS = 30.0
SHUTDOWN_SECONDS = 15.0


class _ResettableProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing the transport so a fault can reset the connection."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions = self.scope.setdefault("extensions", {})  # type: ignore[typeddict-item]
        extensions[TRANSPORT_KEY] = self.transport


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def uvicorn_server(config: ServerConfig) -> uvicorn.Server:
    """A uvicorn server for ``config``: no access log, graceful shutdown bounded."""
    return uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            http=_ResettableProtocol,
            loop=_loop_name(),
            lifespan="on",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
            backlog=4096,
        )
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {error.strerror}.",
            remedy="Choose another --port (0 picks a free one) or stop the process using it.",
        ) from error
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def prepare_data_dir(config: ServerConfig) -> None:
    """Create the data directory (0700) up front, so a bad ``--data-dir`` is a clear error."""
    path = Path(config.data_dir)
    try:
        make_private_dir(path)
    except OSError as error:
        raise ConfigError(
            f"Cannot use {path} as the server's data dir: {os_error_reason(error)}.",
            remedy="Choose a --data-dir that can be created and written.",
        ) from None
    os.close(lock_data_dir(path))  # fail now, clearly, if another server holds it


class RunningServer:
    """A server running in a background thread of this process."""

    def __init__(self, config: ServerConfig) -> None:
        load_fault_plan(config.faults)  # a bad plan is a ConfigError here, not a failed startup
        prepare_data_dir(config)
        self.config = config
        self.api_key = config.key
        self._sock = bind_socket(config.host, config.port)
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    @property
    def base_url(self) -> str:
        """The API base URL for the official SDK, e.g. ``http://127.0.0.1:8123/v1``."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/v1"

    @property
    def admin_url(self) -> str:
        """The base URL of the admin endpoints (outside ``/v1``)."""
        return self.base_url[: -len("/v1")] + "/_admin"

    def start(self) -> None:
        """Start serving and wait (with a deadline) until requests are accepted."""
        if self._sock is None:
            self._sock = bind_socket(self.config.host, self.port)
        server = uvicorn_server(self.config)
        sock, self._sock = self._sock, None
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"batchwright-server-{self.port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise BatchwrightError(
                    f"The local batch server failed to start on port {self.port}.",
                    remedy="See the log above; check that --data-dir is writable.",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BatchwrightError(
                    f"The local batch server did not start within {STARTUP_SECONDS:.0f} s."
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving (in-flight batches keep their stored progress)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(SHUTDOWN_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(SHUTDOWN_SECONDS)
        self._server = self._thread = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def restart(self) -> None:
        """Stop and start again on the same data directory and port."""
        self.stop()
        self.start()

    def _admin(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.admin_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=60
            )
        return self._http

    def ledger(self) -> dict[str, Any]:
        """Every file and batch ever created, request processed and token billed (``GET /_admin/ledger``)."""
        response = self._admin().get("/ledger")
        response.raise_for_status()
        return response.json()

    def set_faults(self, plan: FaultPlan | dict[str, Any] | str | None) -> None:
        """Replace the fault plan at runtime (a plan, mapping, YAML/JSON path, or None for no faults)."""
        body = load_fault_plan(plan).model_dump(exclude_none=True)
        self._admin().put("/faults", json=body).raise_for_status()


@contextmanager
def run_server(config: ServerConfig) -> Iterator[RunningServer]:
    """Run a server in a background thread for the duration of the ``with`` block."""
    server = RunningServer(config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def serve_forever(config: ServerConfig, announce: Callable[[str], None] | None = None) -> None:
    """Run the server in the foreground until interrupted (Ctrl+C / SIGTERM).

    ``announce`` receives the base URL once the port is bound (useful with port 0).
    """
    prepare_data_dir(config)
    sock = bind_socket(config.host, config.port)
    if announce is not None:
        host = f"[{config.host}]" if ":" in config.host else config.host
        announce(f"http://{host}:{sock.getsockname()[1]}/v1")
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after its graceful shutdown
        uvicorn_server(config).run(sockets=[sock])
