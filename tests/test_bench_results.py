"""The benchmark tooling (no benchmark is run here, and nothing is timed): results files, the README's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import readme_table
from benchmarks.bench_singan import extrapolate
from benchmarks.results import EXPECTED, BenchRecord, results_path

ROOT = Path(__file__).resolve().parents[1]


def _fake_results(folder: Path, topic: str = "preprocess", drop: str | None = None) -> Path:
    """A results file of `topic` with made-up figures (every expected one but `drop`)."""
    record = BenchRecord(topic, "cpu", settings={"n": 10})
    for i, key in enumerate(EXPECTED[topic]):
        if key == drop:
            continue
        if i == 0:
            record.figure(key, "cold, 2 processes", 321.0, "images/s", baseline=("cold, 1 process", 107.0), goal=200)
        else:
            record.skip(key, f"figure {key}", "made up for the test")
    record.write(folder)
    return results_path(folder, topic, "cpu")


def test_results_file_holds_figures_baselines_and_the_machine(tmp_path):
    payload = json.loads(_fake_results(tmp_path).read_text())
    figure = payload["figures"][0]
    assert figure["speedup"] == 3.0 and figure["baseline"]["value"] == 107.0
    run = payload["run"]
    for key in (
        "commit",
        "date",
        "faceaug",
        "torch",
        "device_name",
        "cpu_model",
        "cpu_count",
        "torch_threads",
        "load_average_start",
        "load_average_end",
        "peak_ram_mib",
    ):
        assert run[key] not in (None, ""), key
    assert run["peak_ram_mib"] > 0


def test_lower_is_better_speedup_is_baseline_over_value():
    record = BenchRecord("singan", "cpu")
    row = record.figure("batched_k4", "K = 4", 2.0, "s/face", baseline=("one at a time", 5.0), higher_is_better=False)
    assert row["speedup"] == 2.5


def test_singan_extrapolation_separates_the_fixed_cost():
    # 3 s of set-up + 0.5 s per iteration per scale, probed at 4 and 8 iterations
    assert extrapolate(3 + 4 * 0.5, 3 + 8 * 0.5, 4, 150) == pytest.approx((3 + 150 * 0.5, 3.0))
    assert extrapolate(5.0, 4.0, 4, 80) == pytest.approx((40.0, 0.0))  # noise: longer run not slower → linear


def test_readme_table_renders_the_figures_of_a_fake_results_file(tmp_path):
    _fake_results(tmp_path)
    section = readme_table.render_section(readme_table.read_results(tmp_path))
    assert section.startswith(readme_table.START) and section.endswith(readme_table.END)
    row = next(line for line in section.splitlines() if "cold, 2 processes" in line)
    assert "**321** images/s" in row and "107 (cold, 1 process)" in row and "3.0×" in row and "≥ 200" in row
    assert "made up for the test" in section  # the skipped figures, with their reason
    assert "No results file on this device for: ganimation" in section


def test_the_readme_names_each_machine_its_figures_were_measured_on(tmp_path):
    for topic, machine in (("preprocess", "AMD EPYC"), ("report", "Intel Xeon")):
        path = _fake_results(tmp_path, topic)
        payload = json.loads(path.read_text())
        payload["run"]["device_name"] = machine
        path.write_text(json.dumps(payload))
    section = readme_table.render_section(readme_table.read_results(tmp_path))
    assert "AMD EPYC (preprocess), Intel Xeon (report), " in section


def test_readme_table_refuses_a_file_without_an_expected_figure(tmp_path):
    _fake_results(tmp_path, drop="warm_images_per_s")
    with pytest.raises(readme_table.MissingFigure, match="warm_images_per_s"):
        readme_table.read_results(tmp_path)


def test_section_is_inserted_before_development_then_replaced_in_place():
    readme = "# faceaug\n\n## Usage\n\ntext\n\n## Development\n\nmore\n"
    once = readme_table.replace_section(readme, f"{readme_table.START}\nA\n{readme_table.END}")
    assert once.index("A") < once.index("## Development") and "## Usage" in once
    twice = readme_table.replace_section(once, f"{readme_table.START}\nB\n{readme_table.END}")
    assert "B" in twice and "\nA\n" not in twice and twice.count(readme_table.START) == 1


def test_committed_readme_shows_the_committed_results():
    section = readme_table.render_section(readme_table.read_results(ROOT / "benchmarks" / "results"))
    readme = (ROOT / "README.md").read_text()
    assert readme_table.replace_section(readme, section) == readme, "run python -m benchmarks.readme_table"


def test_every_make_bench_topic_writes_through_the_shared_results_module():
    for topic in EXPECTED:
        source = (ROOT / "benchmarks" / f"bench_{topic}.py").read_text()
        assert "from benchmarks.results import BenchRecord" in source, topic


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA this would run the GPU benchmarks")
def test_bench_gpu_without_cuda_exits_0_with_a_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--device", "cuda", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA GPU" in done.stdout and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_on_the_cpu_in_its_dry_run(tmp_path):
    """`make bench-gpu` runs benchmarks/gpu_check.py; its --dry-run takes every step (the CUDA tests, the GANimation,
    SinGAN and expand benchmarks) on the CPU, sized down, so that the first GPU lent finds a script that works."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    summary = json.loads((tmp_path / "gpu_check-cpu.json").read_text())
    assert done.returncode == 0, [(s["step"], s["exit"], s["output_tail"][-800:]) for s in summary["steps"]]
    assert [s["step"] for s in summary["steps"]] == ["cuda tests", "ganimation", "singan", "expand"]
    assert "4 passed" in summary["steps"][0]["output_tail"]  # the CUDA tests ran, on the CPU
    assert {p.name for p in tmp_path.glob("*-cpu.json")} >= {
        "ganimation-cpu.json",
        "singan-cpu.json",
        "expand-cpu.json",
    }


def test_the_gpu_check_without_cuda_exits_0_with_a_message(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("with CUDA this would run the GPU check")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "no CUDA GPU" in done.stdout and not list(tmp_path.iterdir())
