"""Start-up time of ``arco --help`` against a bare Typer app (issue target: under 1.2×).

Usage: python benchmarks/startup.py [--repeat N]

Both are started as fresh interpreters with the same Python; the best of N runs of each
is reported, which filters out scheduling noise on a shared machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_APP = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    print(name)


app()
"""


def best_of(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        bare_s = best_of([sys.executable, str(bare), "--help"], args.repeat)
    arco_s = best_of([sys.executable, "-m", "arco_cli", "--help"], args.repeat)
    explain_s = best_of([sys.executable, "-m", "arco_cli", "explain", "--help"], args.repeat)
    print(f"bare Typer app --help : {bare_s * 1000:7.1f} ms")
    print(f"arco --help           : {arco_s * 1000:7.1f} ms  ({arco_s / bare_s:.2f}x)")
    print(f"arco explain --help   : {explain_s * 1000:7.1f} ms  ({explain_s / bare_s:.2f}x)")


if __name__ == "__main__":
    main()
