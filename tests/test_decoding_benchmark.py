"""ch02/02_decoding-strategies/benchmark_decoding.py runs and prints its
table on a tiny model (it measures nothing there; the real run is in that
folder's README)."""

import re
import subprocess
import sys

from notebooks import ROOT

SCRIPT = ROOT / "ch02" / "02_decoding-strategies" / "benchmark_decoding.py"


def test_benchmark_decoding_prints_every_ratio():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--dtype", "float32"],
        capture_output=True,
        text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    for name in ("greedy", r"top-p sampling \(p=0\.9\)",
                 r"beam search \(width 4\)"):
        assert re.search(rf"{name}\s+[\d.]+ ms/token\s+[\d.]+x greedy",
                         result.stdout), result.stdout
    assert re.search(r"1\.00x greedy", result.stdout)
    assert "(torch.float32), random weights, device cpu (" in result.stdout
    for kind in ("flat", "peaked"):
        assert re.search(rf"{kind} .*full sort\s+[\d.]+ ms, top_p_filter"
                         rf"\s+[\d.]+ ms", result.stdout), result.stdout
