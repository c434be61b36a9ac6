"""`make test`'s pytest: the fault suite beside the parallel run of everything else.

The fault suite (tests/faults: two modules, each on a stack of its own) spends wall time, not
CPU: proof periods sized for a loaded machine and a 15-minute RPC outage. Started first, in a
pytest of its own (one xdist worker per module), it overlaps the three-worker run of the rest;
after that run it would add its 20 minutes, and inside it one module would hold a worker while
the files queued behind it wait. Its report (kept in .faults.log) is printed when both are done.
"""

import subprocess
import sys
import time
from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
REST = [*PYTEST, "-n", "3", "--dist", "loadfile", "-m", "not faults"]
FAULTS = [*PYTEST, "-n", "2", "--dist", "loadfile", "-m", "faults", "tests/faults"]
LOG = Path(".faults.log")


def main() -> int:
    started = time.monotonic()
    print(f"tests/faults runs beside the rest; its report follows theirs (log: {LOG})")
    with LOG.open("wb") as log:
        # a Ctrl-C reaches both runs (one process group); each stops its own servers
        faults = subprocess.Popen(FAULTS, stdout=log, stderr=subprocess.STDOUT)
        try:
            rest = subprocess.call(REST)
            print("waiting for tests/faults", flush=True)
            status = faults.wait()
        finally:
            faults.wait()
    print(LOG.read_text(errors="replace"), end="")
    print(f"tests/faults exit {status}, the rest exit {rest}: {time.monotonic() - started:.0f} s")
    return 0 if rest == 0 and status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
