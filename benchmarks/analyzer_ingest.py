"""Benchmark: rhesis-logs ingest and analyze against jq and pandas, measured in the same run.

    .venv/bin/python benchmarks/analyzer_ingest.py                 # 1M and 3M lines
    .venv/bin/python benchmarks/analyzer_ingest.py --sizes 100000,1000000

The inputs are real worker output repeated with fresh ids (the test suite's sample-log
generator, ``tests/support/sample_logs/repeated.py``, generated once into
``benchmarks/.data``): ``json``, the lines our instrumentation writes today
(``examples/worker.jsonl``); ``json-wide``, the same workload's older, wider lines (first
size only); ``kubectl``, Celery's plain text as a 3-pod ``kubectl logs --prefix
--timestamps`` stream. Each command runs in a fresh process under ``/usr/bin/time`` (wall
seconds, CPU seconds, peak RSS):

* ``rhesis-logs analyze --format json``: the whole command, report and rendering included;
* ``rhesis ingest``: ``ingest.read_sources(files.open_sources([path]))``, every column (what
  ``parse`` needs), imports included (first size only);
* baselines over the same file: ``jq -c 'select(.severity=="ERROR")'`` and
  ``pandas.read_json(lines=True)`` (only up to ``--pandas-max`` lines: it needs minutes and
  gigabytes), and for the kubectl file ``grep -c 'raised unexpected'`` (a floor: it only
  scans bytes).

Each command but pandas' runs ``--repeat`` times (default 3), interleaved with its baseline
so that both see the same load; the median run is shown, with the spread of wall times.
The project's bytecode is compiled first (as ``pip install`` does). Ratios are baseline
time / rhesis time (above 1: rhesis is faster). CPU seconds are shown because wall time on
a shared 2-core machine depends on what else runs (the load average is printed before each
file); CPU/wall near 2 means both cores were ours. The end prints the figures as a Markdown
table (line size, machine, load) for the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.support.sample_logs.repeated import dataset  # noqa: E402

PY = sys.executable
RHESIS_LOGS = str(Path(PY).with_name("rhesis-logs"))

INGEST = (
    "import sys\n"
    "from analyzers import ingest\n"
    "from analyzers.sources.files import open_sources\n"
    "r = ingest.read_sources(open_sources([sys.argv[1]]))\n"
    "assert r.lines_parsed + len(r.unparsed) == r.lines_read\n"
    "print(len(r.frame), r.lines_read, file=sys.stderr)\n"
)
PANDAS = "import sys, pandas as pd\ndf = pd.read_json(sys.argv[1], lines=True)\n"


@dataclass
class Run:
    wall: float  # the median run's
    cpu: float
    rss_mb: float
    walls: tuple[float, ...] = ()  # every run's, for the spread


def measure(cmd: list[str], stdout: str = os.devnull, repeat: int = 1) -> Run:
    """Run ``cmd`` ``repeat`` times under /usr/bin/time: the median run (by wall time)."""
    runs = [_measure_once(cmd, stdout) for _ in range(repeat)]
    runs.sort(key=lambda r: r.wall)
    median = runs[len(runs) // 2]
    median.walls = tuple(r.wall for r in runs)
    return median


def _measure_once(cmd: list[str], stdout: str) -> Run:
    """One run: wall, user+sys CPU and peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf, open(stdout, "wb") as out:
        full = ["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M", *cmd]
        done = subprocess.run(full, stdout=out, stderr=subprocess.PIPE, cwd=REPO, check=False)
        if done.returncode != 0 and cmd[0] != "grep":
            raise SystemExit(f"{cmd} failed:\n{done.stderr.decode()[-2000:]}")
        wall, user, sys_, rss = tf.read().split()[-4:]
    return Run(float(wall), float(user) + float(sys_), int(rss) / 1024)


def row(label: str, n: int, run: Run, ref: Run | None) -> str:
    ratio = f"{run.wall / max(ref.wall, 0.01):6.1f}x" if ref else "     - "
    rate = n / max(run.wall, 0.01) / 1000
    spread = (f"  ({min(run.walls):.2f}-{max(run.walls):.2f} s in {len(run.walls)} runs)"
              if len(run.walls) > 1 else "")
    return (f"  {label:<34} {run.wall:7.2f} s {run.cpu:7.2f} s {rate:8.0f} k/s "
            f"{run.rss_mb:7.0f} MB   {ratio}{spread}")


FIGURES: list[str] = []


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _pair(cmd: list[str], base: list[str] | None, repeat: int) -> tuple[Run, Run | None]:
    """``cmd`` and its baseline, run alternately ``repeat`` times each: both see the same load."""
    runs, bases = [], []
    for _ in range(repeat):
        runs.append(measure(cmd))
        if base is not None:
            bases.append(measure(base))
    return _median(runs), _median(bases) if bases else None


def _median(runs: list[Run]) -> Run:
    runs = sorted(runs, key=lambda r: r.wall)
    median = runs[len(runs) // 2]
    median.walls = tuple(r.wall for r in runs)
    return median


def bench_json(kind: str, n: int, pandas_max: int, repeat: int, ingest_too: bool) -> None:
    path = dataset(kind, n)
    size = path.stat().st_size
    mb, per_line = size / 2**20, size / n
    print(f"\n{n:,} {kind} lines ({mb:.0f} MB, {per_line:.0f} B/line), load {_load()}")
    print(f"  {'':<34} {'wall':>9} {'cpu':>9} {'lines/s':>12} {'peak RSS':>10}   vs rhesis")
    jq = ["jq", "-c", 'select(.severity=="ERROR")', str(path)] if shutil.which("jq") else None
    analyze, jq_run = _pair([RHESIS_LOGS, "analyze", str(path), "--format", "json"], jq,
                            repeat)
    print(row("rhesis-logs analyze --format json", n, analyze, None))
    if ingest_too:
        print(row("rhesis ingest (read_sources)", n,
                  measure([PY, "-c", INGEST, str(path)], repeat=repeat), None))
    if jq_run is not None:
        print(row('jq select(.severity=="ERROR")', n, jq_run, analyze))
    if n <= pandas_max:
        print(row("pandas.read_json(lines=True)", n, measure([PY, "-c", PANDAS, str(path)]),
                  analyze))
    ratio = f"{jq_run.wall / analyze.wall:.1f}x" if jq_run else "-"
    FIGURES.append(
        f"| {n / 1e6:g} M `{kind}` lines, {per_line:.0f} B/line ({mb:.0f} MB) "
        f"| {analyze.wall:.2f} s ({min(analyze.walls):.2f}-{max(analyze.walls):.2f}) "
        f"| {analyze.cpu:.2f} s | {analyze.rss_mb:.0f} MB "
        f"| jq select {jq_run.wall:.2f} s, {jq_run.cpu:.2f} s cpu: **{ratio}** |"
        if jq_run else "")


def bench_kubectl(n: int, repeat: int, ingest_too: bool) -> None:
    path = dataset("kubectl", n)
    size = path.stat().st_size
    mb, per_line = size / 2**20, size / n
    print(f"\n{n:,} kubectl --prefix --timestamps lines of Celery text, 3 pods ({mb:.0f} MB, "
          f"{per_line:.0f} B/line), load {_load()}")
    analyze, grep = _pair([RHESIS_LOGS, "analyze", str(path), "--format", "json"],
                          ["grep", "-c", "raised unexpected", str(path)], repeat)
    print(row("rhesis-logs analyze --format json", n, analyze, None))
    if ingest_too:
        print(row("rhesis ingest (read_sources)", n,
                  measure([PY, "-c", INGEST, str(path)], repeat=repeat), None))
    print(row("grep -c 'raised unexpected' (floor)", n, grep, analyze))
    FIGURES.append(
        f"| {n / 1e6:g} M kubectl lines (Celery text, 3 pods), {per_line:.0f} B/line "
        f"({mb:.0f} MB) | {analyze.wall:.2f} s ({min(analyze.walls):.2f}-"
        f"{max(analyze.walls):.2f}) | {analyze.cpu:.2f} s | {analyze.rss_mb:.0f} MB "
        f"| grep -c (a byte scan, floor) {grep.wall:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000")
    parser.add_argument("--pandas-max", type=int, default=0,
                        help="run pandas.read_json up to this many lines (default: never)")
    parser.add_argument("--kubectl-max", type=int, default=1_000_000,
                        help="the kubectl stream up to this many lines")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each command but pandas' (the median is shown)")
    args = parser.parse_args()
    _compile_project()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, load average {_load()} (other "
          "work on the machine slows wall times; compare CPU seconds)")
    sizes = [int(x) for x in args.sizes.split(",")]
    for i, n in enumerate(sizes):
        bench_json("json", n, args.pandas_max, args.repeat, ingest_too=i == 0)
        if i == 0:
            bench_json("json-wide", n, 0, args.repeat, ingest_too=False)
        if n <= args.kubectl_max:
            bench_kubectl(n, args.repeat, ingest_too=i == 0)
    print(f"\nFigures (median of {args.repeat} runs; {_cpu_model()}, {os.cpu_count()} cores; "
          f"load average {_load()} at the end):\n")
    print("| input | `analyze --format json` wall (spread) | cpu | peak RSS | baseline, same run |")
    print("|---|---|---|---|---|")
    print("\n".join(f for f in FIGURES if f))


def _compile_project() -> None:
    """Write the project's bytecode first, as ``pip install`` does for an installed package.

    An editable install compiles on first import and caches the result, unless
    PYTHONDONTWRITEBYTECODE is set (as on this machine): then every measured process would
    compile our ~70 modules again, ~0.07 s that no installed copy pays.
    """
    import compileall

    for package in ("analyzers", "instrumentation", "queries"):
        compileall.compile_dir(REPO / package, quiet=1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
