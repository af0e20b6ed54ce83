"""The fault-injection harness, short: 3 trials per command of `kill -9` at a seeded random moment, then a re-run.

Each trial must end with exactly the uninterrupted run's rows and pixels, nothing orphaned, duplicated or left
over (benchmarks/fault_injection.py has the invariants; run it alone for more trials).
"""

from __future__ import annotations

import pytest

from benchmarks import fault_injection as fi


@pytest.mark.slow
@pytest.mark.parametrize("name", fi.COMMANDS)
def test_kill_9_then_rerun_gives_the_reference_result(tmp_path, name):
    part = fi.run_command_trials(name, tmp_path, trials=3, seed=0, quick=True, log=lambda line: None)
    assert part["reference"]["problems"] == []
    failed = [(t["trial"], [k["at_s"] for k in t["kills"]], t["problems"]) for t in part["trials"] if not t["ok"]]
    assert not failed, f"(trial, kill times, problems): {failed}"
    assert part["totals"]["kills_landed"] > 0  # the kills fall within the reference run's time: most land


@pytest.mark.slow
def test_sigterm_to_expand_leaves_no_worker_and_the_rerun_gives_the_reference_result(tmp_path):
    part = fi.run_command_trials(
        "expand", tmp_path, trials=2, seed=0, quick=True, log=lambda line: None, faults=("sigterm",)
    )
    totals = part["by_fault"]["sigterm"]
    assert totals["failed_trials"] == 0, [t["problems"] for t in part["trials"]]
    assert totals["orphaned_processes"] == 0 and totals["kills_landed"] > 0


@pytest.mark.slow
def test_expand_on_a_full_tmpfs_exits_non_zero_and_the_rerun_gives_the_reference_result(tmp_path):
    if not fi.can_mount_tmpfs(tmp_path):
        pytest.skip("mounting a tmpfs needs root")
    part = fi.run_command_trials(
        "expand", tmp_path, trials=2, seed=0, quick=True, log=lambda line: None, faults=("enospc",)
    )
    totals = part["by_fault"]["enospc"]
    assert totals["failed_trials"] == 0, [t["problems"] for t in part["trials"]]
    assert totals["full_disk_successes"] == 0 and totals["kills_landed"] == 2
