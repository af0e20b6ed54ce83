"""Render benchmarks/results/*.json as the README's "Performance" section (between the performance markers).

    .venv/bin/python -m benchmarks.readme_table            # rewrite the section of README.md
    .venv/bin/python -m benchmarks.readme_table --check    # exit 1 if README.md is not what the files render

Every results file of a `make bench` topic must hold each figure of benchmarks.results.EXPECTED, measured or
skipped with a reason; a file that lacks one is an error (MissingFigure), not a silently shorter table.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.results import EXPECTED, RESULTS_DIR, ROOT, format_value, load_results

START, END = "<!-- performance:start -->", "<!-- performance:end -->"
DEVICES = {"cpu": "CPU", "cuda": "GPU (CUDA)"}
REPRODUCE = {"cpu": "make bench", "cuda": "make bench-gpu"}
INTRO = (
    "Measured by `make bench` (CPU, at most 15 minutes on 2 cores) and `make bench-gpu` (CUDA; it exits with a "
    "message where there is none), which write `benchmarks/results/<topic>-<device>.json` and then this section "
    "(`python -m benchmarks.readme_table`; do not edit it by hand). One topic: `python -m benchmarks.run --only "
    "singan`; more options: `python -m benchmarks.bench_<topic> --help`. Each figure stands beside its baseline "
    "measured in the same process, so the speed-up holds on a busy machine even where the absolute figure does "
    "not; the load average is recorded because these machines are shared."
)


class MissingFigure(ValueError):
    """A results file lacks a figure its topic must have."""


def check_complete(payload: dict[str, Any], source: str = "") -> None:
    """Raise MissingFigure unless every EXPECTED figure of the file's topic is measured or skipped."""
    present = {f["key"] for f in payload.get("figures", [])} | {s["key"] for s in payload.get("skipped", [])}
    missing = [k for k in EXPECTED.get(payload["topic"], ()) if k not in present]
    if missing:
        raise MissingFigure(f"{source or payload['topic']}: no figure {', '.join(missing)} (measured or skipped)")
    for f in payload.get("figures", []):
        if f.get("value") is None:
            raise MissingFigure(f"{source or payload['topic']}: figure {f['key']} has no value")


def read_results(folder: Path) -> dict[str, dict[str, dict]]:
    """device → topic → payload, for the `make bench` topics found in `folder` (checked complete)."""
    found: dict[str, dict[str, dict]] = {}
    for topic in EXPECTED:
        for device in DEVICES:
            path = Path(folder) / f"{topic}-{device}.json"
            if path.exists():
                payload = load_results(path)
                check_complete(payload, path.name)
                found.setdefault(device, {})[topic] = payload
    return found


def _goal(f: dict) -> str:
    if f.get("goal") is None:
        return ""
    return f"{'≥' if f['higher_is_better'] else '≤'} {format_value(f['goal'])}"


def _figure_row(topic: str, f: dict) -> str:
    base = f.get("baseline")
    baseline = f"{format_value(base['value'])} ({base['label']})" if base else ""
    speedup = f"{f['speedup']}×" if base and f.get("speedup") is not None else ""
    label = f["label"] + (f" ({f['note']})" if f.get("note") else "")
    return f"| {topic} | {label} | **{format_value(f['value'])}** {f['unit']} | {baseline} | {speedup} | {_goal(f)} |"


def _machine_line(device: str, topics: dict[str, dict]) -> str:
    runs = [p["run"] for p in topics.values()]
    first = runs[0]
    commits = sorted({r["commit"] for r in runs})
    days = sorted({r["date"][:10] for r in runs})
    machines: dict[str, list[str]] = {}  # the topics were not all measured on one machine: each name says which
    for topic, payload in topics.items():
        machines.setdefault(payload["run"]["device_name"], []).append(topic)
    names = (
        ", ".join(f"{machine} ({', '.join(measured)})" for machine, measured in machines.items())
        if len(machines) > 1
        else first["device_name"]
    )
    return (
        names
        + (f" (host CPU {first['cpu_model']})" if device == "cuda" else "")
        + f", {first['cores_usable']} of {first['cpu_count']} cores usable, torch {first['torch']}"
        + (f" (CUDA {first['cuda']})" if first.get("cuda") else "")
        + f", Python {first['python']}, faceaug {first['faceaug']}; commit {', '.join(commits)}, "
        + " to ".join(dict.fromkeys([days[0], days[-1]]))
        + "."
    )


def render_device(device: str, topics: dict[str, dict]) -> list[str]:
    lines = [
        f"### {DEVICES[device]}: `{REPRODUCE[device]}`",
        "",
        _machine_line(device, topics),
        "",
        "| benchmark | figure | value | baseline, same process | speed-up | goal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for topic, payload in topics.items():
        lines += [_figure_row(topic, f) for f in payload["figures"]]
    stages = topics.get("expand", {}).get("details", {}).get("stage_seconds")
    if stages:
        split = ", ".join(
            f"{name.removesuffix('_s')} {format_value(s)} s"
            for name, s in stages.items()
            if isinstance(s, (int, float))
        )
        lines += ["", f"Expand's stage split ({topics['expand']['details'].get('stage_split_of', '')}): {split}."]
    skipped = [(topic, s) for topic, p in topics.items() for s in p["skipped"]]
    if skipped:
        lines += ["", "Not measured here:"] + [f"- {topic}: {s['label']}: {s['reason']}." for topic, s in skipped]
    missing = [t for t in EXPECTED if t not in topics]
    if missing:
        lines += ["", f"No results file on this device for: {', '.join(missing)}."]
    lines += [
        "",
        "| benchmark | date (UTC) | torch threads | load average, start → end | wall s | peak RAM MiB "
        "(largest child) | peak GPU MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for topic, p in topics.items():
        r = p["run"]
        load = f"{r['load_average_start'][0]} → {r['load_average_end'][0]}"
        gpu = format_value(r["peak_gpu_mib"]) if r.get("peak_gpu_mib") is not None else "–"
        lines.append(
            f"| {topic} | {r['date'][:16].replace('T', ' ')} | {r['torch_threads']} | {load} | "
            f"{format_value(r['seconds'])} | {format_value(r['peak_ram_mib'])} "
            f"({format_value(r['peak_ram_children_mib'])}) | {gpu} |"
        )
    return lines + [""]


def render_section(results: dict[str, dict[str, dict]]) -> str:
    lines = [START, "## Performance", "", *textwrap.wrap(INTRO, 117, break_on_hyphens=False), ""]
    if not results:
        lines += ["No results yet: run `make bench`.", ""]
    for device in DEVICES:
        if device in results:
            lines += render_device(device, results[device])
    return "\n".join(lines + [END])


def replace_section(readme: str, section: str, before: str = "## Development") -> str:
    """README text with the marked section replaced (inserted before the `before` heading when absent)."""
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        return head + section + rest.split(END, 1)[1]
    marker = f"\n{before}\n"
    if marker not in readme:
        raise ValueError(f"README has neither the performance markers nor a {before!r} heading")
    head, tail = readme.split(marker, 1)
    return f"{head}\n{section}\n{marker}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's section is out of date")
    args = parser.parse_args()
    readme = args.readme.read_text()
    updated = replace_section(readme, render_section(read_results(args.results)))
    if args.check:
        if updated != readme:
            sys.exit(
                f"{args.readme}: the Performance section is not what {args.results} renders; "
                "run python -m benchmarks.readme_table"
            )
        return
    if updated != readme:
        from faceaug.io.atomic import write_bytes_atomic

        write_bytes_atomic(updated.encode(), args.readme)
    print(f"{args.readme}: Performance section from {args.results}")


if __name__ == "__main__":
    main()
