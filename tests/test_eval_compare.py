"""The generator comparison table reads each run's report and fails clearly without one."""

from __future__ import annotations

import json

from eval import compare


def _metrics(disc: float, tstr: float, copies: int) -> dict:
    return {
        "evaluators": {
            "inliers": {
                "per_kernel": {
                    "linear": {"synthetic_inliers": 0.8},
                    "rbf": {"synthetic_inliers": 0.25},
                }
            },
            "discriminator": {
                "rows": {
                    "synthetic vs real": {"mean": disc, "low": disc - 0.02, "high": disc + 0.02},
                    "synthetic vs real (feature forest)": {"mean": 0.9, "low": 0.85, "high": 0.95},
                }
            },
            "tstr": {"tstr": {"accuracy": tstr}, "trtr": {"accuracy": 0.99}},
            "memorization": {
                "synthetic": {"median": 4.5},
                "real_test": {"median": 3.5},
                "exact_copies": copies,
            },
        }
    }


def test_one_row_per_run_with_every_column(tmp_path, capsys) -> None:
    runs = []
    for name, disc in (("a", 0.74), ("b", 0.51)):
        (tmp_path / name / "report").mkdir(parents=True)
        metrics = _metrics(disc, 0.9, copies=0 if name == "a" else 3)
        (tmp_path / name / "report" / "metrics.json").write_text(json.dumps(metrics))
        runs.append(str(tmp_path / name))
    out = tmp_path / "table.md"
    assert compare.main([*runs, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | inliers linear | inliers RBF | discriminator | feature")
    assert (
        "| 80.0% | 25.0% | 74.0% (72.0%-76.0%) | 90.0% (85.0%-95.0%) | 90.0% | 99.0% | 4.5 / 3.5 "
        "| 0 |" in lines[2]
    )
    assert lines[3].endswith("| 3 |") and "51.0%" in lines[3]
    assert "Generators compared" in out.read_text()


def test_a_run_without_a_report_is_a_clear_error(tmp_path, capsys) -> None:
    assert compare.main([str(tmp_path)]) == 2
    assert "python -m eval.harness --run" in capsys.readouterr().err
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "metrics.json").write_text("{not json")
    assert compare.main([str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
