"""scripts/eval_mode_check.py: the BN running-statistics probe and its report on a real (tiny) run folder."""

from __future__ import annotations

import re
import sys

import pytest
import torch
from _scripts import load_script
from conftest import tiny_overrides

from mtbench.cli import main as mtbench_main
from mtbench.reporting.results import load_records


@pytest.fixture(scope="module")
def script():
    return load_script("eval_mode_check.py")


def test_batch_statistics_copy_normalises_by_the_batch(script):
    bn = torch.nn.BatchNorm2d(3).eval()  # running mean 0, var 1: eval mode passes x through
    x = torch.randn(4, 3, 5, 5) * 3 + 5
    probe = script.with_batch_statistics(bn).eval()
    y = probe(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    assert torch.allclose(bn(x), x, atol=1e-4)  # the original keeps its running statistics
    assert bn.running_mean is not None and probe.running_mean is None


def test_report_on_a_run_folder_matches_the_record(tmp_path, script, monkeypatch, capsys):
    mtbench_main(
        ["run", "--model", "mtl", "--tasks", "semseg,depth", *sum((["--set", s] for s in tiny_overrides(tmp_path)), [])]
    )
    (record,) = load_records(tmp_path / "results")
    monkeypatch.setattr(
        sys, "argv", ["eval_mode_check.py", str(tmp_path / "runs" / record.id), "--batch", "2", "--worst", "3"]
    )
    script.main()
    out = capsys.readouterr().out
    eval_line = next(line for line in out.splitlines() if "eval mode (running statistics)" in line)
    miou, rmse = map(float, re.search(r"semseg mIoU ([\d.]+), depth rmse ([\d.]+)", eval_line).groups())
    assert miou == pytest.approx(record.metrics["semseg"]["mIoU"], rel=1e-3)
    assert rmse == pytest.approx(record.metrics["depth"]["rmse"], rel=1e-3)
    assert "batch statistics (probe)" in out
    median, p90, worst = map(float, re.search(r"median ([\d.]+), 90th percentile ([\d.]+), max ([\d.]+)", out).groups())
    assert median <= p90 <= worst
    # pooled RMSE lies between the smallest and largest per-image RMSE; the worst image is listed first
    assert rmse <= worst + 1e-3
    listed = re.findall(r"image (\d+): RMSE ([\d.]+)", out)
    assert len(listed) == 3 and float(listed[0][1]) == pytest.approx(worst, abs=1e-3)


def test_bad_input_is_one_line(tmp_path, script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["eval_mode_check.py", str(tmp_path / "nope")])
    with pytest.raises(SystemExit) as e:
        script.main()
    err = capsys.readouterr().err.strip()
    assert e.value.code != 0 and err == f"error: {tmp_path / 'nope'}: not a run folder (no config.yaml)"
    monkeypatch.setattr(sys, "argv", ["eval_mode_check.py", str(tmp_path), "--batch", "0"])
    with pytest.raises(SystemExit) as e:
        script.main()
    assert e.value.code == 2 and "expected a positive integer, got '0'" in capsys.readouterr().err
