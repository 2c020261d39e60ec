"""Run every benchmark in bench/ one after another (``make bench``); each prints its own table.

``python bench/run_all.py ocr tasks`` (``make bench BENCH="ocr tasks"``) runs only bench_ocr.py and bench_tasks.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    only = {f"bench_{name}.py" for name in sys.argv[1:]}
    unknown = only - {p.name for p in HERE.glob("bench_*.py")}
    if unknown:
        print(f"run_all: no benchmark {', '.join(sorted(unknown))} in {HERE}", file=sys.stderr)
        return 2
    for script in sorted(HERE.glob("bench_*.py")):
        if only and script.name not in only:
            continue
        print(f"\n===== {script.name} =====", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
