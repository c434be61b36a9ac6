"""Processes the stack and the tests start (deploy/local/processes.py): a stop right after a
start stops the process. Right after `spawn` the child may still be inside its exec, with an
empty command line; taking that for "another process" left a worker running next to its
replacement (found by the API's end-to-end test, whose metrics then came from two workers)."""

import sys
from pathlib import Path

from deploy.local.processes import pid_alive, spawn, terminate, wait_until


def test_terminate_right_after_spawn_stops_the_process(tmp_path: Path) -> None:
    for _ in range(10):  # the race shows in about one start of four
        command = [sys.executable, "-c", "import time; time.sleep(60)", "needle-for-this-test"]
        pid = spawn(command, tmp_path / "sleeper.log")
        terminate(pid, "needle-for-this-test")
        wait_until(lambda: not pid_alive(pid), 5, "the process to be gone")  # noqa: B023
