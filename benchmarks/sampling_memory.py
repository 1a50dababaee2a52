"""Peak memory and time of streaming N synthetic rows to a file.

    python benchmarks/sampling_memory.py MODEL_DIR --rows 1000000 --out /tmp/rows.parquet

Each run happens in a fresh subprocess so that its peak resident memory (ru_maxrss) is its
own; the table compares row counts, so bounded memory shows as a flat RSS column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys, time
from synthgen.requests import SampleOptions
from synthgen.tabular.sample import sample_tabular
start = time.perf_counter()
options = SampleOptions(rows=int(sys.argv[2]), seed=0, steps=int(sys.argv[4]))
sample_tabular(sys.argv[1], options, out=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--out", default="/tmp/synthgen-sampling-benchmark.parquet")
    parser.add_argument("--steps", type=int, default=24, help="reverse steps (24: the default of synthgen sample)")
    args = parser.parse_args()
    print("| rows | seconds | peak RSS (MB) | file size (MB) |")
    print("|---|---|---|---|")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    for rows in args.rows.split(","):
        result = subprocess.run([sys.executable, "-c", CHILD, args.model_dir, rows, args.out, str(args.steps)],
                                capture_output=True, text=True, env=env, check=True)
        m = json.loads(result.stdout.strip().splitlines()[-1])
        size = Path(args.out).stat().st_size / 2**20
        print(f"| {int(rows):,} | {m['seconds']:.1f} | {m['peak_rss_mb']:.0f} | {size:.1f} |")
        Path(args.out).unlink()


if __name__ == "__main__":
    main()
