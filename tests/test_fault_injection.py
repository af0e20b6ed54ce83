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
