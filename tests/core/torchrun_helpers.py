"""Running a test worker script under torchrun (gloo on CPU), for the DDP tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def torchrun(nproc: int, worker: Path, *args: str | Path) -> None:
    """Run ``worker`` with ``args`` in ``nproc`` processes of one torch thread each; fail with the
    end of their stderr when it does not exit 0."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(worker), *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
