"""The same training from Python and from the CLI: issue 22 found 45.8 s from Python and
10.8 s from the CLI for one 40-step training, because only the CLI set OpenMP's wait policy.
The library now sets it itself (``synthgen.runtime.configure_threads``); this prints both.

    python benchmarks/python_vs_cli.py            # 2 runs each, 40 steps, heart table

Each run is a fresh process started with ``OMP_WAIT_POLICY`` removed from its environment
(as a user's notebook or shell has it) and timed whole, imports included: the CLI's
``synthgen train`` and a Python script with ``synthgen.TabularSynthesizer(...).fit(path)``,
both on UCI Heart Disease (Cleveland) with ``benchmarks/schemas/heart.yaml``, epsilon 3,
seed 0. The third row imports torch before synthgen, so the library is too late to set the
policy: what a Python process had before (it warns). Runs alternate between the paths so
that a change in the machine's load falls on both.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tabular" / "heart_disease_cleveland.csv"
SCHEMA = ROOT / "benchmarks" / "schemas" / "heart.yaml"
EPSILON = 3.0

PYTHON = """
import sys
{preamble}
import synthgen
synth = synthgen.TabularSynthesizer(epsilon={epsilon}, schema=sys.argv[2], max_steps=int(sys.argv[3]))
synth.fit(sys.argv[1])
print(synth.certificate.steps)
"""


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process): on a shared machine the wall time
    follows the load; the CPU time shows spin-waiting whatever the load."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--no-late-torch", action="store_true",
                        help="skip the run with torch imported before synthgen")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    paths = {
        "CLI (synthgen train)": lambda out: [
            sys.executable, "-m", "synthgen", "train", args.data, "--schema", str(SCHEMA),
            "--epsilon", str(EPSILON), "--max-steps", str(args.steps), "--out", str(out)],
        "Python (TabularSynthesizer.fit)": lambda out: [
            sys.executable, "-c", PYTHON.format(preamble="", epsilon=EPSILON), args.data,
            str(SCHEMA), str(args.steps)],
    }
    if not args.no_late_torch:
        paths["Python, torch imported first"] = lambda out: [
            sys.executable, "-W", "ignore", "-c",
            PYTHON.format(preamble="import torch", epsilon=EPSILON), args.data, str(SCHEMA),
            str(args.steps)]
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    with tempfile.TemporaryDirectory(prefix="python-vs-cli-") as tmp:
        for i in range(args.runs):
            for name, command in paths.items():
                out = Path(tmp) / f"model-{i}-{len(seconds[name])}-{abs(hash(name))}"
                wall, used = run(command(out), env)
                seconds[name].append(wall)
                cpu[name].append(used)
                print(f"  run {i + 1}: {name}: {wall:.1f} s ({used:.1f} CPU s)", flush=True)
    cli = statistics.median(seconds["CLI (synthgen train)"])
    print(f"\n{args.steps} DP-SGD steps, heart table, epsilon {EPSILON}, OMP_WAIT_POLICY unset, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| path | wall, each run (s) | median wall (s) | vs CLI | CPU, each run (s) |")
    print("|---|---|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | {median:.1f} | "
              f"{(median / cli - 1) * 100:+.0f}% | {', '.join(f'{v:.1f}' for v in cpu[name])} |")


if __name__ == "__main__":
    main()
