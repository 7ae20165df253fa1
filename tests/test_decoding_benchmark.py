"""ch02/02_decoding-strategies/benchmark_decoding.py runs and prints its
table on a tiny model (it measures nothing there; the real run is in that
folder's README)."""

import re
import subprocess
import sys

import pytest

from notebooks import ROOT
from script_args import bad_arguments

SCRIPT = ROOT / "ch02" / "02_decoding-strategies" / "benchmark_decoding.py"


def test_benchmark_decoding_prints_every_ratio():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--dtype", "float32",
         "--no-compile"],
        capture_output=True,
        text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    both = r"\s+[\d.]+ ms/token\s+[\d.]+x greedy" * 2
    for name in ("greedy", r"top-p sampling \(p=0\.9\)",
                 "greedy, stop string", r"beam search \(width 4\)"):
        assert re.search(rf"{name}{both}\s+[\d.]+x faster",
                         result.stdout), result.stdout
    assert "fast backend not compiled" in result.stdout
    assert re.search(r"Stop strings on the fast backend: [+-][\d.]+% per "
                     "token", result.stdout), result.stdout
    assert re.search(r"1\.00x greedy", result.stdout)
    assert "(torch.float32), random weights, device cpu (" in result.stdout
    for kind in ("flat", "peaked"):
        assert re.search(rf"{kind} .*full sort\s+[\d.]+ ms, top_p_filter"
                         rf"\s+[\d.]+ ms", result.stdout), result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beam-width", "0"], "--beam-width: must be >= 1, got 0"),
        (["--max-new-tokens", "-1"], "--max-new-tokens: must be >= 1"),
        (["--prompt-tokens", "x"], "must be a whole number, got 'x'"),
        (["--repeats", "0"], "--repeats: must be >= 1"),
        (["--top-p", "1.5"], "--top-p: top_p must be a number with 0 <"),
        (["--top-p", "nan"], "--top-p: top_p must be a number with 0 <"),
        (["--device", "meta"], "--device meta holds no values"),
        (["--tiny", "--max-new-tokens", "120"],
         "are 136 tokens, more than the model's context length, 128"),
    ],
)
def test_bad_arguments_end_in_one_line_before_any_work(args, message,
                                                       capsys):
    code, err = bad_arguments(SCRIPT, args, capsys)
    assert code == 2
    assert message in err.splitlines()[-1]
