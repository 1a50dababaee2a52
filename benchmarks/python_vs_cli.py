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


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    return seconds


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
    with tempfile.TemporaryDirectory(prefix="python-vs-cli-") as tmp:
        for i in range(args.runs):
            for name, command in paths.items():
                out = Path(tmp) / f"model-{i}-{len(seconds[name])}-{abs(hash(name))}"
                seconds[name].append(run(command(out), env))
                print(f"  run {i + 1}: {name}: {seconds[name][-1]:.1f} s", flush=True)
    cli = statistics.median(seconds["CLI (synthgen train)"])
    print(f"\n{args.steps} DP-SGD steps, heart table, epsilon {EPSILON}, OMP_WAIT_POLICY unset, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs")
    print("| path | runs (s) | median (s) | vs CLI |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | {median:.1f} | "
              f"{(median / cli - 1) * 100:+.0f}% |")


if __name__ == "__main__":
    main()
