"""`make bench` itself, at its quick size: it must keep running, and keep saying what the issue's cost model claims.

Timings are not asserted (benchmarks are not timed tests); what is asserted is that the command writes its report,
that prefix reuse gives the same answers as the full prefill, and that it cuts the image tokens prefilled per
question by the number of questions per image.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.workflow  # minutes of end-to-end stages: make test runs it, make test-fast does not
def test_quick_bench_writes_the_report_and_prefix_reuse_keeps_the_answers(tmp_path):
    out = tmp_path / "performance.md"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_scale.py"), "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| measurement | this run | ratio |" in result.stdout
    report = out.read_text()
    assert report.startswith("# Performance at μ-Bench scale") and "benchmarks/bench_scale.py --quick" in report
    same = re.findall(r"same answers (\d+)/(\d+)", report)
    assert len(same) == 3 and all(a == b for a, b in same)  # Qwen letters, Qwen generate, PaliGemma
    fewer, per_image = re.search(r"Prefix reuse prefilled ([\d.]+)× fewer image\s+tokens per question on the "
                                 r"generative sample \(([\d.]+) questions per image", report).groups()
    assert float(fewer) >= float(per_image) - 0.01
    assert "Cost model of a GPU paper run" in report
