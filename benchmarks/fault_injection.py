"""Fault injection: kill, stop or starve `faceaug preprocess` / `faceaug expand` at random moments, re-run, check.

    .venv/bin/python -m benchmarks.fault_injection                                # 10 trials per command and fault
    .venv/bin/python -m benchmarks.fault_injection --trials 20 --seed 1 --only expand --faults kill9
    .venv/bin/python -m benchmarks.fault_injection --keep fi-work                 # keep the folders to inspect

A robustness check, not a performance figure (so not part of `benchmarks.run`). For each command a small input is
built once (preprocess: `faceaug synth` data; expand: a tiny work folder with an untrained small GANimation and a
few SinGAN iterations) and one uninterrupted reference run records the expected result. Three faults:

- kill9: SIGKILL to the whole process group at a moment drawn from a seeded numpy Generator between 0 and the
  reference run's wall time (odd trials do this three times in a row into the same folder);
- sigterm: SIGTERM to the faceaug process alone (as `kill PID` or a job scheduler sends it), with two worker
  processes running; within 10 s no process of the group may be left (no orphaned workers), and the stopped run
  must not print a traceback;
- enospc: the output folder on a tmpfs too small for the output (needs root to mount; the trials are skipped
  otherwise); the run must exit non-zero, saying the disk is full; the tmpfs is then enlarged for the rerun.

Then each trial runs the command again to completion and checks: exit code 0, the reference's rows and counts per
label, no duplicate ids, a file for every row, no unlisted PNG (orphan), no `.<name>.*.tmp` leftover, no
`parts/` (expand), and byte-identical images (the same command and seed are deterministic on CPU).
A fault that comes after the process already finished is recorded as not landed. Prints a table, writes a JSON
summary (--out) and exits 1 if any trial broke an invariant.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("preprocess", "expand")
FAULTS = ("kill9", "sigterm", "enospc")
STOP_GRACE_S = 10.0  # after SIGTERM, every process of the group must be gone within this
KILLS_IN_A_ROW = 3  # odd trials kill the same folder this many times before the final run

# SinGAN / expand settings small enough for seconds per expansion (as in tests/test_expand.py)
TINY_EXPAND_TOML = """\
[singan]
iters_per_scale = 2
nfc = 8
max_nfc = 8
min_size = 12

[expand]
min_target_probability = 0.0
samples_per_edit = 3
shard_size = 2
"""


@dataclass(frozen=True)
class Case:
    """One command under test: its arguments (without --out) and where its output lists its images."""

    name: str
    args: tuple[str, ...]
    table: str  # the parquet file listing the images
    id_column: str
    path_column: str
    key_columns: tuple[str, ...]  # columns that must equal the reference's
    image_dir: str  # folder under the output holding the PNGs

    def argv(self, out: Path, workers: int | None = None) -> list[str]:
        """The command line; `workers` replaces the case's --workers value."""
        args = list(self.args)
        if workers is not None:
            args[args.index("--workers") + 1] = str(workers)
        return [sys.executable, "-m", "faceaug", *args, "--out", str(out)]


@dataclass
class Snapshot:
    """What an output folder holds: key rows of its table, rows per label, sha256 of each listed image."""

    rows: list[tuple]
    counts: dict[str, int]
    hashes: dict[str, str]
    rejects: list[tuple] = field(default_factory=list)


@dataclass
class Problem:
    invariant: str
    detail: str
    count: int = 1


# ----------------------------------------------------------------------------------------------------------------
# Inputs


def child_env() -> dict[str, str]:
    """The CLI runs this checkout's code, on one thread (tiny models; the cores are shared)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


def build_preprocess_input(root: Path, subjects: int = 40, per_class: int = 6) -> Case:
    """A `faceaug synth` dataset (8 classes) big enough that preprocess takes a few seconds."""
    data = root / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "faceaug",
            "--quiet",
            "synth",
            str(data),
            "--subjects",
            str(subjects),
            "--per-class",
            str(per_class),
            "--size",
            "64",
            "--overwrite",
        ],
        env=child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # --workers 2: the process pool is part of what gets killed
    args = ("preprocess", str(data), "--labels", str(data / "labels.csv"), "--size", "64", "--workers", "2")
    return Case(
        "preprocess",
        args,
        "faces.parquet",
        "face_id",
        "image_path",
        ("face_id", "label", "split", "subject", "image_path"),
        "faces",
    )


def build_expand_input(root: Path, per_class: int = 12) -> Case:
    """A 32-px blob-face work folder with an untrained small GANimation generator, and a tiny-settings config."""
    import torch

    from faceaug.config import GanimationConfig
    from tests.ganimation_fixtures import make_work_dir, save_model

    work = make_work_dir(root / "work", n=24, size=32)
    torch.manual_seed(0)
    small = GanimationConfig(image_size=32, conv_dim=8, repeat_num=2)
    save_model(work / "models" / "ganimation.safetensors", small)
    config = root / "tiny.toml"
    config.write_text(TINY_EXPAND_TOML)
    args = (
        "expand",
        str(work),
        "--au-preset",
        "happy,sad,fear",
        "--per-class",
        str(per_class),
        "--workers",
        "1",
        "--device",
        "cpu",
        "--config",
        str(config),
    )
    return Case(
        "expand",
        args,
        "manifest.parquet",
        "id",
        "path",
        ("id", "label", "split", "stage", "source_id", "is_generated", "path"),
        "images",
    )


def build_inputs(name: str, root: Path, quick: bool = False) -> Case:
    """The input of one command; `quick` (the pytest): smaller, but still seconds per run to kill into."""
    root.mkdir(parents=True, exist_ok=True)
    if name == "preprocess":
        return build_preprocess_input(root, subjects=16, per_class=4) if quick else build_preprocess_input(root)
    return build_expand_input(root, per_class=6) if quick else build_expand_input(root)


# ----------------------------------------------------------------------------------------------------------------
# Running and killing


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies don't count: they write nothing)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _wait_group_gone(pgid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def run_killed(argv: list[str], at_s: float) -> dict:
    """Start the command in its own session, SIGKILL its process group after at_s seconds unless it finished.

    `landed` is True exactly when the command died of the kill (not when it had already exited)."""
    proc = subprocess.Popen(
        argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        proc.wait(timeout=at_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the leader is not reaped yet, so the group id is still ours
        proc.wait()
    _wait_group_gone(proc.pid)  # workers die too before anything else touches the folder
    return {"at_s": round(at_s, 3), "landed": proc.returncode == -signal.SIGKILL, "returncode": proc.returncode}


def run_stopped(argv: list[str], at_s: float) -> dict:
    """Start the command in its own session, SIGTERM the faceaug process alone after at_s seconds unless it
    finished; `orphans` is True when some process of its group outlived it by STOP_GRACE_S (they are then
    killed, so the next run starts clean)."""
    proc = subprocess.Popen(
        argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=at_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            stderr = "did not stop"
    _wait_group_gone(proc.pid, STOP_GRACE_S)
    orphans = _group_alive(proc.pid)
    if orphans or proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_group_gone(proc.pid)
    landed = proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
    return {
        "at_s": round(at_s, 3),
        "landed": landed,
        "returncode": proc.returncode,
        "orphans": orphans,
        "traceback": "Traceback" in (stderr or ""),
    }


def can_mount_tmpfs(root: Path) -> bool:
    """Whether this process may mount a tmpfs (root on Linux, outside most containers' restrictions)."""
    probe = root / "tmpfs_probe"
    probe.mkdir(parents=True, exist_ok=True)
    ok = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True).returncode
        == 0
    )
    if ok:
        subprocess.run(["umount", str(probe)], check=True)
    return ok


def run_starved(argv: list[str], mount: Path, size_bytes: int) -> dict:
    """Run the command with its output on a fresh tmpfs of size_bytes at `mount`; the tmpfs stays mounted
    (enlarge it with `grow_tmpfs` for the rerun). `landed`: the disk filled (the run exited non-zero)."""
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mount)], check=True)
    rc, seconds, stderr = run_to_completion(argv, timeout_s=600)
    return {
        "size_bytes": size_bytes,
        "landed": rc != 0,
        "returncode": rc,
        "seconds": round(seconds, 2),
        "says_disk_full": "No space left on device" in stderr,
        "traceback": "Traceback" in stderr,
    }


def grow_tmpfs(mount: Path, size_bytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_bytes}", str(mount)], check=True)


def unmount(mount: Path) -> None:
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def output_bytes(out: Path) -> int:
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def run_to_completion(argv: list[str], timeout_s: float) -> tuple[int, float, str]:
    """(exit code, seconds, the end of stderr); a run past timeout_s is killed and reported as exit code -9."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        stderr = f"timed out after {timeout_s:.0f} s\n{stderr}"
    _wait_group_gone(proc.pid)
    return proc.returncode, time.perf_counter() - start, stderr[-2000:]


# ----------------------------------------------------------------------------------------------------------------
# Snapshots and invariants


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(case: Case, out: Path) -> Snapshot:
    """Read an output folder (its table must exist and be readable)."""
    table = pd.read_parquet(out / case.table)
    rows = sorted(tuple(r) for r in table[list(case.key_columns)].itertuples(index=False))
    counts = {str(k): int(v) for k, v in table["label"].value_counts().sort_index().items()}
    hashes = {p: _sha256(out / p) for p in table[case.path_column] if (out / p).is_file()}
    rejects = []
    if case.name == "preprocess":
        rejects = sorted(
            tuple(r)
            for r in pd.read_parquet(out / "rejects.parquet")[["source_path", "reason"]].itertuples(index=False)
        )
    return Snapshot(rows, counts, hashes, rejects)


def _examples(items, n: int = 3) -> str:
    items = sorted(items)
    return ", ".join(map(str, items[:n])) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def temp_files(out: Path) -> list[str]:
    """Leftovers of atomic writes: `.<name>.<random>.tmp` anywhere in the output."""
    return [str(p.relative_to(out)) for p in out.rglob(".*.tmp")]


def check_invariants(case: Case, out: Path, reference: Snapshot | None) -> list[Problem]:
    """Everything wrong with a finished output folder; [] when it is exactly the reference's result."""
    problems = []
    leftovers = temp_files(out)
    if leftovers:
        problems.append(Problem("temp_files", _examples(leftovers), len(leftovers)))
    if case.name == "expand" and (out / "parts").exists():
        problems.append(Problem("parts_left", "parts/ still exists"))
    try:
        table = pd.read_parquet(out / case.table)
        snap = snapshot(case, out)
    except Exception as exc:  # noqa: BLE001 - a missing or broken table is a finding, not a harness error
        return problems + [Problem("table", f"{case.table}: {type(exc).__name__}: {exc}")]

    ids = table[case.id_column]
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        problems.append(Problem("duplicated", _examples(duplicated), int(ids.duplicated().sum())))
    listed = set(table[case.path_column])
    missing = [p for p in listed if not (out / p).is_file()]
    if missing:
        problems.append(Problem("missing_files", _examples(missing), len(missing)))
    on_disk = {str(p.relative_to(out)) for p in (out / case.image_dir).rglob("*.png")}
    orphans = on_disk - listed
    if orphans:
        problems.append(Problem("orphaned", _examples(orphans), len(orphans)))
    if reference is None:
        return problems

    if snap.counts != reference.counts:
        problems.append(Problem("counts", f"per label {snap.counts}, reference {reference.counts}"))
    got, want = Counter(snap.rows), Counter(reference.rows)
    lost, extra = want - got, got - want
    if lost:
        problems.append(Problem("lost_rows", _examples(r[0] for r in lost), sum(lost.values())))
    if extra:
        problems.append(Problem("unexpected_rows", _examples(r[0] for r in extra), sum(extra.values())))
    changed = [p for p, sha in snap.hashes.items() if p in reference.hashes and reference.hashes[p] != sha]
    if changed:
        problems.append(Problem("pixels", f"differ from the reference: {_examples(changed)}", len(changed)))
    if snap.rejects != reference.rejects:
        problems.append(Problem("rejects", f"{len(snap.rejects)} rejects, reference {len(reference.rejects)}"))
    return problems


# ----------------------------------------------------------------------------------------------------------------
# Reference and trials


def reference_run(case: Case, out: Path) -> tuple[Snapshot, float, list[Problem]]:
    """The uninterrupted run: (its snapshot, its wall time, anything already wrong with it)."""
    rc, seconds, stderr = run_to_completion(case.argv(out), timeout_s=600)
    if rc != 0:
        raise RuntimeError(f"the reference {case.name} run failed (exit code {rc}):\n{stderr}")
    return snapshot(case, out), seconds, check_invariants(case, out, None)


def run_trial(
    case: Case,
    reference: Snapshot,
    ref_seconds: float,
    index: int,
    rng: np.random.Generator,
    out: Path,
    fault: str = "kill9",
    ref_bytes: int = 0,
) -> dict:
    """Inject `fault` (one of FAULTS) into runs of the command into `out` (fresh), run it to completion, check
    the invariants."""
    shutil.rmtree(out, ignore_errors=True)
    argv = case.argv(out)
    problems = []
    if fault == "kill9":
        records = [run_killed(argv, float(rng.uniform(0.0, ref_seconds))) for _ in range(kills_for(index))]
    elif fault == "sigterm":  # two workers, so that there are processes to orphan
        records = [run_stopped(case.argv(out, workers=2), float(rng.uniform(0.0, ref_seconds)))]
        problems += [
            Problem("orphaned_processes", f"workers outlived the stopped run by {STOP_GRACE_S:.0f} s")
            for r in records
            if r["orphans"]
        ]
        problems += [Problem("traceback", "the stopped run printed a traceback") for r in records if r["traceback"]]
    else:  # enospc: the disk fills at a random point of the output
        mount = out.parent / f"{out.name}_fs"
        out = mount / "out"
        argv = case.argv(out)
        size = max(64 * 1024, int(rng.uniform(0.1, 0.9) * ref_bytes))
        try:
            records = [run_starved(argv, mount, size)]
            grow_tmpfs(mount, 8 * ref_bytes + (64 << 20))
            rc, seconds, stderr = run_to_completion(argv, timeout_s=max(120.0, 20 * ref_seconds))
            problems += _final_problems(case, out, reference, rc, stderr)
            problems += [
                Problem("full_disk_exit", "exit code 0 with less room than the output needs")
                for r in records
                if r["returncode"] == 0
            ]
            problems += [
                Problem("full_disk_message", "no 'No space left on device' in the message")
                for r in records
                if r["landed"] and not r["says_disk_full"]
            ]
            problems += [Problem("traceback", "a traceback on a full disk") for r in records if r["traceback"]]
        finally:
            unmount(mount)
        return _trial_record(case, index, fault, argv, records, rc, seconds, problems)
    rc, seconds, stderr = run_to_completion(argv, timeout_s=max(120.0, 20 * ref_seconds))
    problems += _final_problems(case, out, reference, rc, stderr)
    return _trial_record(case, index, fault, argv, records, rc, seconds, problems)


def _final_problems(case: Case, out: Path, reference: Snapshot, rc: int, stderr: str) -> list[Problem]:
    problems = [] if rc == 0 else [Problem("exit_code", f"exit code {rc}: {stderr.strip()[-500:]}")]
    return problems + check_invariants(case, out, reference)


def _trial_record(
    case: Case,
    index: int,
    fault: str,
    argv: list[str],
    records: list[dict],
    rc: int,
    seconds: float,
    problems: list[Problem],
) -> dict:
    return {
        "trial": index,
        "command": case.name,
        "fault": fault,
        "cli": shlex.join(["faceaug", *argv[3:]]),
        "kills": records,
        "landed": sum(k["landed"] for k in records),
        "final_returncode": rc,
        "final_seconds": round(seconds, 2),
        "problems": [asdict(p) for p in problems],
        "ok": not problems,
    }


def kills_for(index: int) -> int:
    """Even trials: one kill into a fresh folder; odd trials: several kills in a row into the same folder."""
    return 1 if index % 2 == 0 else KILLS_IN_A_ROW


def run_command_trials(
    name: str, root: Path, trials: int, seed: int, quick: bool = False, log=print, faults: tuple[str, ...] = ("kill9",)
) -> dict:
    """Build the input, record the reference, run `trials` trials of each fault; the per-command part of the
    summary (`trials` and `totals` over every fault, `by_fault` per fault)."""
    case = build_inputs(name, root / "input", quick=quick)
    reference, ref_seconds, ref_problems = reference_run(case, root / "reference")
    ref_bytes = output_bytes(root / "reference")
    log(
        f"{name}: reference run {ref_seconds:.1f} s, {len(reference.rows)} rows, {len(reference.hashes)} images, "
        f"{ref_bytes / 1e6:.1f} MB" + (f", PROBLEMS: {ref_problems}" if ref_problems else "")
    )
    if "enospc" in faults and not can_mount_tmpfs(root):
        log("  enospc: skipped (mounting a tmpfs needs root)")
        faults = tuple(f for f in faults if f != "enospc")
    results, by_fault = [], {}
    for fault in faults:
        rng = np.random.default_rng([seed, COMMANDS.index(name), FAULTS.index(fault)])
        mine = []
        for i in range(trials):
            result = run_trial(
                case, reference, ref_seconds, i, rng, root / f"{fault}_{i:03d}", fault=fault, ref_bytes=ref_bytes
            )
            mine.append(result)
            log(
                f"  {fault} trial {i}: {_describe(result)}; rerun {result['final_seconds']:.1f} s: "
                + ("ok" if result["ok"] else "; ".join(f"{p['invariant']}: {p['detail']}" for p in result["problems"]))
            )
        by_fault[fault] = totals(mine)
        results += mine
    return {
        "reference": {
            "seconds": round(ref_seconds, 2),
            "rows": len(reference.rows),
            "images": len(reference.hashes),
            "bytes": ref_bytes,
            "counts": reference.counts,
            "problems": [asdict(p) for p in ref_problems],
        },
        "totals": totals(results),
        "by_fault": by_fault,
        "trials": results,
    }


def _describe(result: dict) -> str:
    if result["fault"] == "enospc":
        k = result["kills"][0]
        return f"{k['size_bytes'] / 1e6:.2f} MB disk, exit {k['returncode']}"
    verb = "killed" if result["fault"] == "kill9" else "stopped"
    return f"{verb} at " + ", ".join(f"{k['at_s']:.2f}{'' if k['landed'] else ' (done)'}" for k in result["kills"])


def totals(results: list[dict]) -> dict:
    """Counts over trials: kills that landed, trials that survived them, and what went missing or extra."""
    by_invariant = Counter()
    for r in results:
        for p in r["problems"]:
            by_invariant[p["invariant"]] += p["count"]
    return {
        "trials": len(results),
        "kills": sum(len(r["kills"]) for r in results),
        "kills_landed": sum(r["landed"] for r in results),
        "trials_with_a_landed_kill": sum(r["landed"] > 0 for r in results),
        "faults_survived": sum(r["landed"] > 0 and r["ok"] for r in results),
        "failed_trials": sum(not r["ok"] for r in results),
        "lost": by_invariant["lost_rows"] + by_invariant["missing_files"],
        "duplicated": by_invariant["duplicated"],
        "orphaned": by_invariant["orphaned"],
        "orphaned_processes": by_invariant["orphaned_processes"],
        "full_disk_successes": by_invariant["full_disk_exit"],
        "temp_files": by_invariant["temp_files"],
        "problems_by_invariant": dict(by_invariant),
    }


def print_table(summary: dict) -> None:
    columns = (
        "trials",
        "kills_landed",
        "faults_survived",
        "failed_trials",
        "lost",
        "duplicated",
        "orphaned",
        "orphaned_processes",
        "full_disk_successes",
        "temp_files",
    )
    print(f"\n{'command':<11}{'fault':<8}" + "".join(f"{c:>20}" for c in columns))
    for name, part in summary["commands"].items():
        for fault, counts in part["by_fault"].items():
            print(f"{name:<11}{fault:<8}" + "".join(f"{counts[c]:>20}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--only", choices=COMMANDS, default=None, help="one command (default: both)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of {', '.join(FAULTS)}")
    parser.add_argument("--out", type=Path, default=Path("bench-out/fault_injection.json"))
    parser.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs in this folder")
    args = parser.parse_args()
    names = [args.only] if args.only else list(COMMANDS)
    root = args.keep or Path(tempfile.mkdtemp(prefix="fault_injection_"))
    started = time.perf_counter()
    try:
        faults = tuple(f for f in args.faults.split(",") if f)
        unknown = set(faults) - set(FAULTS)
        if unknown:
            parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        commands = {
            name: run_command_trials(name, root / name, args.trials, args.seed, faults=faults) for name in names
        }
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    summary = {
        "benchmark": "fault_injection",
        "seed": args.seed,
        "trials_per_command": args.trials,
        "kills_in_a_row_on_odd_trials": KILLS_IN_A_ROW,
        "seconds": round(time.perf_counter() - started, 1),
        "totals": totals([t for part in commands.values() for t in part["trials"]]),
        "commands": commands,
    }
    print_table(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    failed = sum(part["totals"]["failed_trials"] + bool(part["reference"]["problems"]) for part in commands.values())
    print(f"{summary['seconds']} s; {'all invariants held' if not failed else f'{failed} FAILED'}; wrote {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
