"""`stack up|down|status`: the embedded local stack, idempotent, tracked in ``.stack/state.json``.

`up` starts what is not running and reuses what is; `down` stops exactly the processes `up`
recorded (pid and command line both checked) and nothing else.
"""

import os
from pathlib import Path

from pydantic import BaseModel

from deploy.local.anvil import AnvilNode
from deploy.local.postgres import PostgresInfo, PostgresServer
from deploy.local.processes import REPO_ROOT
from deploy.local.temporal import TemporalDevServer


def stack_dir() -> Path:
    return Path(os.environ.get("SALES_STACK_DIR", REPO_ROOT / ".stack")).resolve()


class StackState(BaseModel):
    postgres: PostgresInfo | None = None
    anvil: AnvilNode | None = None
    temporal: TemporalDevServer | None = None
    extra: dict[str, int] = {}
    """Other processes the stack started (name → pid), e.g. the demo worker."""
    env: dict[str, str] = {}
    """Settings the demo adds (marketplace address, the dev host key, the data server)."""

    def environment(self) -> dict[str, str]:
        """The variables a worker or the CLI needs to reach this stack."""
        env: dict[str, str] = {}
        if self.temporal:
            env["TEMPORAL_ADDRESS"] = self.temporal.address
            env["TEMPORAL_NAMESPACE"] = "default"
        if self.postgres:
            env["SALES_DATABASE_URL"] = self.postgres.dsn()
        if self.anvil:
            env["SALES_RPC_URL"] = self.anvil.rpc_url
            env["SALES_CONFIRMATIONS"] = "1"  # anvil never reorganises by itself
        return {**env, **self.env}


class LocalStack:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or stack_dir()
        self.state_file = self.root / "state.json"

    def load(self) -> StackState:
        if self.state_file.exists():
            return StackState.model_validate_json(self.state_file.read_text())
        return StackState()

    def save(self, state: StackState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(state.model_dump_json(indent=2))
        self.state_file.chmod(0o600)

    def up(self, *, anvil_block_time: int = 1) -> StackState:
        state = self.load()
        state.postgres = PostgresServer(self.root / "postgres").start(
            state.postgres.port if state.postgres else None
        )
        self.save(state)
        if state.anvil is None or not state.anvil.alive():
            state.anvil = AnvilNode.start(
                self.root / "anvil.log",
                block_time=anvil_block_time,
                state_file=self.root / "anvil-state.json",
            )
            self.save(state)
        if state.temporal is None or not state.temporal.alive():
            state.temporal = TemporalDevServer.start(
                self.root / "temporal", self.root / "temporal.log"
            )
            self.save(state)
        return state

    def down(self) -> None:
        from deploy.local.processes import terminate

        state = self.load()
        for name, pid in state.extra.items():
            terminate(pid, name)
        if state.temporal:
            state.temporal.stop()
        if state.anvil:
            state.anvil.stop()
        PostgresServer(self.root / "postgres").stop()
        # Every part keeps its state on disk (anvil's chain too), so `up` resumes where `down`
        # stopped; `make clean` removes .stack/ for a fresh start.
        self.save(StackState(postgres=state.postgres, env=state.env))

    def status(self) -> dict[str, str]:
        state = self.load()
        pg_port = PostgresServer(self.root / "postgres").running_port()
        return {
            "postgres": f"up on 127.0.0.1:{pg_port}" if pg_port else "down",
            "anvil": f"up at {state.anvil.rpc_url}"
            if state.anvil and state.anvil.alive()
            else "down",
            "temporal": f"up at {state.temporal.address}, Web UI {state.temporal.ui_url}"
            if state.temporal and state.temporal.alive()
            else "down",
        }
