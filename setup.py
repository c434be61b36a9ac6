"""Builds the one native extension (Poseidon2 for Codex's commitments); the rest is pyproject.toml.

`pip install -e .` and `pip install .` compile proofs/poseidon2/_native.c with the machine's C
compiler. On x86-64 CPUs with BMI2 and ADX (read from /proc/cpuinfo of the installing machine)
the field arithmetic is hand-scheduled MULX/ADCX/ADOX assembly; elsewhere (or with
POSEIDON2_PORTABLE=1 in the environment) it is portable C with 128-bit integers. On x86-64 with
gcc/clang the AVX-512 IFMA path (16 states in lockstep) is always compiled, for its functions
only, and used when the running CPU has it; POSEIDON2_PORTABLE=1 leaves it out too.
"""

import os
import platform
from pathlib import Path

from setuptools import Extension, setup  # type: ignore[import-untyped]


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


args = ["-O3", "-std=c11"]
portable = os.environ.get("POSEIDON2_PORTABLE") == "1"
macros = [("POSEIDON2_PORTABLE", "1")] if portable else []
if not portable and platform.machine() in ("x86_64", "AMD64") and {"bmi2", "adx"} <= _cpu_flags():
    args += ["-mbmi2", "-madx"]

setup(
    ext_modules=[
        Extension(
            "proofs.poseidon2._native",
            sources=["proofs/poseidon2/_native.c"],
            extra_compile_args=args,
            define_macros=macros,
        )
    ]
)
