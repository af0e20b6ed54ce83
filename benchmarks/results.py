"""The one place benchmark results are recorded: machine info, figures beside their baselines, one JSON per topic.

    record = BenchRecord("preprocess", "cpu", settings={"n": 1000})
    record.figure("images_per_s", "cold, 2 processes", 212.4, "images/s",
                  baseline=("cold, 1 process", 120.1), goal=200)
    record.skip("paper_128", "SinGAN paper at 128 px", "does not fit the 15-minute CPU budget")
    record.write(args.out)            # → <out>/preprocess-cpu.json, and prints its rows

Every file holds the figures (each with its baseline measured in the same process and the speed-up, > 1 meaning
the figure beats its baseline), what was skipped and why, the settings, the raw rows (`details`) and `run`: git
commit, date, faceaug / torch / Python versions, device and CPU model, core count, torch thread settings, load
average at start and end (the machines are shared), wall seconds, and peak RAM (and peak GPU memory on CUDA).
`EXPECTED` lists the figures each `make bench` topic must have (measured or skipped with a reason);
benchmarks/readme_table.py refuses to render a file that lacks one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"

#: topic → keys of the figures its results file must hold (measured, or listed under `skipped` with the reason).
#: The order is the README's.
EXPECTED: dict[str, tuple[str, ...]] = {
    "preprocess": ("images_per_s", "warm_images_per_s", "dlib_images_per_s"),
    "ganimation": ("train_fast", "train_paper", "edit_fast", "edit_paper"),
    "singan": (
        "s_per_face_fast_64",
        "s_per_face_fast_128",
        "s_per_face_paper_64",
        "s_per_face_paper_128",
        "batched_k1",
        "batched_k4",
        "batched_k16",
        "batched_k64",
        "pool",
    ),
    "patch": ("s_per_face_64", "s_per_face_128"),
    "expand": ("images_per_minute", "bundled_edits_per_minute", "bundled_gated_edits_per_minute"),
    "report": ("s_per_1000",),
}


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """--out: the folder of the results files (default benchmarks/results, the committed ones)."""
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder for <topic>-<device>.json (default: benchmarks/results)"
    )


def device_kind(device: str | torch.device) -> str:
    """'cpu' or 'cuda' (the results file's suffix)."""
    return torch.device(device).type


def results_path(out: Path, topic: str, device: str) -> Path:
    return Path(out) / f"{topic}-{device_kind(device)}.json"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """Short commit hash, '+dirty' when tracked files differ from it; 'unknown' outside a checkout."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        # the results files themselves change during `make bench`: not a change of the code measured
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
        return commit + ("+dirty" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _faceaug_version() -> str:
    import faceaug

    return faceaug.__version__


def machine_info(device: str | torch.device) -> dict[str, Any]:
    """What the figures depend on: versions, device, CPU, cores and thread settings."""
    kind = device_kind(device)
    cuda = kind == "cuda" and torch.cuda.is_available()
    return {
        "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "faceaug": _faceaug_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda if cuda else None,
        "device": kind,
        "device_name": torch.cuda.get_device_name(torch.device(device)) if cuda else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "env_threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "platform": platform.platform(),
    }


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_memory(device: str | torch.device) -> dict[str, float | None]:
    """Peak resident memory of this process and of its largest finished child (MiB), peak GPU memory on CUDA."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # ru_maxrss: KiB on Linux, bytes on macOS
    gpu = None
    if device_kind(device) == "cuda" and torch.cuda.is_available():
        gpu = round(torch.cuda.max_memory_allocated(torch.device(device)) / 2**20, 1)
    return {
        "peak_ram_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
        "peak_ram_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1),
        "peak_gpu_mib": gpu,
    }


def speedup(value: float, baseline: float, higher_is_better: bool) -> float | None:
    """How many times better `value` is than `baseline` (> 1: better)."""
    if not value or not baseline:
        return None
    return round(value / baseline if higher_is_better else baseline / value, 2)


class BenchRecord:
    """The figures of one benchmark topic on one device, written as one JSON file."""

    def __init__(self, topic: str, device: str | torch.device, settings: dict[str, Any] | None = None):
        self.topic, self.device = topic, device_kind(device)
        self._torch_device = torch.device(device)
        self.settings = dict(settings or {})
        self.figures: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.details: dict[str, Any] = {}
        self._start = time.perf_counter()
        self._load_start = _load_average()

    def figure(
        self,
        key: str,
        label: str,
        value: float,
        unit: str,
        *,
        baseline: tuple[str, float] | None = None,
        higher_is_better: bool = True,
        goal: float | None = None,
        note: str | None = None,
    ) -> dict:
        """One measured figure; `baseline` = (label, value) measured in this same process."""
        row: dict[str, Any] = {
            "key": key,
            "label": label,
            "value": value,
            "unit": unit,
            "higher_is_better": higher_is_better,
        }
        if baseline is not None:
            row["baseline"] = {"label": baseline[0], "value": baseline[1]}
            row["speedup"] = speedup(value, baseline[1], higher_is_better)
        if goal is not None:
            row["goal"] = goal
        if note:
            row["note"] = note
        self.figures.append(row)
        return row

    def skip(self, key: str, label: str, reason: str) -> None:
        """A figure not measured on this run, and why."""
        self.skipped.append({"key": key, "label": label, "reason": reason})

    def payload(self) -> dict[str, Any]:
        # memory and load first: machine_info starts `git`, and a forked child's peak RSS starts at this process's
        memory, load_end, seconds = peak_memory(self._torch_device), _load_average(), time.perf_counter() - self._start
        run = {
            **machine_info(self._torch_device),
            "load_average_start": self._load_start,
            "load_average_end": load_end,
            "seconds": round(seconds, 1),
            **memory,
        }
        return {
            "topic": self.topic,
            "device": self.device,
            "figures": self.figures,
            "skipped": self.skipped,
            "settings": self.settings,
            "run": run,
            "details": self.details,
        }

    def write(self, out: Path) -> Path:
        """Write <out>/<topic>-<device>.json atomically, print its rows and the path."""
        from faceaug.io.atomic import write_json_atomic

        path = results_path(out, self.topic, self.device)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = self.payload()
        write_json_atomic(payload, path)
        for line in text_rows(payload):
            print(line)
        print(f"wrote {path}")
        return path


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def format_value(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def text_rows(payload: dict[str, Any]) -> list[str]:
    """A short plain-text table of one results file (what the benchmark prints at its end)."""
    lines = []
    for f in payload["figures"]:
        base = f.get("baseline")
        vs = f"  vs {format_value(base['value'])} {base['label']} → {f['speedup']}×" if base else ""
        lines.append(f"{payload['topic']:<10} {f['label']:<44} {format_value(f['value']):>9} {f['unit']:<10}{vs}")
    lines += [f"{payload['topic']:<10} {s['label']:<44} skipped: {s['reason']}" for s in payload["skipped"]]
    return lines
