"""Benchmark: rhesis-logs ingest and analyze against jq and pandas, measured in the same run.

    .venv/bin/python benchmarks/analyzer_ingest.py                 # 100k, 1M, 3M lines
    .venv/bin/python benchmarks/analyzer_ingest.py --sizes 100000,1000000

For each size it generates (once, into ``benchmarks/.data``, see ``analyzer_data.py``) our JSON
lines (~340 bytes each) and ``kubectl logs --prefix --timestamps`` output of three pods with
interleaved tracebacks, then times, each in a fresh process under ``/usr/bin/time`` (wall
seconds, CPU seconds, peak RSS):

* ``rhesis ingest``: ``ingest.read_sources(files.open_sources([path]))``, every column (what
  ``parse`` needs), imports included;
* ``rhesis-logs analyze --format json``: the whole command, report and rendering included;
* baselines over the same file: ``jq -c 'select(.severity=="ERROR")'`` and
  ``pandas.read_json(lines=True)`` (skipped above ``--pandas-max`` lines: it needs minutes
  and gigabytes), and for the kubectl file ``grep -c 'raised unexpected'`` (a floor: it only
  scans bytes).

Each command but ``pandas.read_json`` runs ``--repeat`` times (default 3); the median run is
shown, with the spread of wall times. The project's bytecode is compiled first (as ``pip
install`` does). Ratios are baseline time / rhesis time (above 1: rhesis is faster). CPU
seconds are shown because wall time on a shared 2-core machine depends on what else runs;
CPU/wall near 2 means both cores were ours.
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

from benchmarks.analyzer_data import dataset  # noqa: E402

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


def bench(n: int, pandas_max: int, repeat: int) -> None:
    json_path, kube_path = dataset("json", n), dataset("kubectl", n)
    mb = json_path.stat().st_size / 2**20
    print(f"\n{n:,} JSON lines ({mb:.0f} MB, {mb * 2**20 / n:.0f} B/line)")
    print(f"  {'':<34} {'wall':>9} {'cpu':>9} {'lines/s':>12} {'peak RSS':>10}   vs rhesis")
    ingest = measure([PY, "-c", INGEST, str(json_path)], repeat=repeat)
    analyze = measure([RHESIS_LOGS, "analyze", str(json_path), "--format", "json"],
                      repeat=repeat)
    print(row("rhesis ingest (read_sources)", n, ingest, None))
    print(row("rhesis-logs analyze --format json", n, analyze, None))
    if shutil.which("jq"):
        jq = measure(["jq", "-c", 'select(.severity=="ERROR")', str(json_path)], repeat=repeat)
        print(row("jq select(.severity==\"ERROR\")", n, jq, analyze))
    if n <= pandas_max:
        pd_run = measure([PY, "-c", PANDAS, str(json_path)])
        print(row("pandas.read_json(lines=True)", n, pd_run, analyze))
    else:
        print(f"  {'pandas.read_json(lines=True)':<34} skipped above {pandas_max:,} lines")

    kmb = kube_path.stat().st_size / 2**20
    print(f"\n{n:,} kubectl --prefix --timestamps lines, 3 pods, tracebacks ({kmb:.0f} MB)")
    ingest = measure([PY, "-c", INGEST, str(kube_path)], repeat=repeat)
    analyze = measure([RHESIS_LOGS, "analyze", str(kube_path), "--format", "json"],
                      repeat=repeat)
    grep = measure(["grep", "-c", "raised unexpected", str(kube_path)])
    print(row("rhesis ingest (read_sources)", n, ingest, None))
    print(row("rhesis-logs analyze --format json", n, analyze, None))
    print(row("grep -c 'raised unexpected' (floor)", n, grep, analyze))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--pandas-max", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each command but pandas' (the median is shown)")
    args = parser.parse_args()
    _compile_project()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (other work on the machine slows wall times; compare "
          "CPU seconds)")
    for n in (int(x) for x in args.sizes.split(",")):
        bench(n, args.pandas_max, args.repeat)


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
