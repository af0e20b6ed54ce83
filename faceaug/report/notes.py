"""What expand.json says about how an expansion was made, for the report's notes: which editor made it and what
the quality gate did."""

from __future__ import annotations

from typing import Any

from faceaug.report.inputs import ReportInputs


def gate_notes(inputs: ReportInputs) -> list[str]:
    """What expand's quality gate (--min-edit-score) did, from expand.json."""
    gate = inputs.settings.get("expand", {}).get("quality_gate")
    if not isinstance(gate, dict):
        return []
    dropped = gate.get("dropped", {})
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in dropped.items()) or "none"
    rules = [
        f"{name} {gate[key]:g}"
        for key, name in (
            ("min_edit_score", "min edit score"),
            ("min_target_probability", "min target probability"),
            ("max_identity_distance", "max identity distance"),
        )
        if isinstance(gate.get(key), (int, float))
    ]
    notes = [
        f"Quality gate ({', '.join(rules) or 'no rule'}): {gate.get('judged', 0)} edits judged, "
        f"{sum(dropped.values())} dropped ({reasons}) and drawn again from other sources."
    ]
    reading = gate.get("judge_reads_sources")
    if isinstance(reading, dict) and isinstance(reading.get("accuracy"), (int, float)):
        heldout = reading.get("heldout_accuracy")
        said = (
            f"The expression judge read {reading['accuracy']:.0%} of {reading.get('faces', '?')} source faces as "
            f"their own label" + (f" (its own held-out faces: {heldout:.0%})" if isinstance(heldout, float) else "")
        )
        if reading.get("enough", True):
            notes.append(said + ".")
        else:
            notes.append(
                said + ": on faces it reads this poorly its verdicts on the edits say little, so images may not "
                "show their label; look at the contact sheets."
            )
    return notes


def editor_of(inputs: ReportInputs) -> dict[str, Any] | None:
    """Which editor made the expansion (expand.json's ganimation_model: name, id, bundled or not), or None."""
    model = inputs.settings.get("expand", {}).get("ganimation_model") if inputs.has_expansion else None
    if not isinstance(model, dict):
        return None
    return {
        "name": model.get("name") or model.get("path"),
        "id": model.get("id"),
        "bundled": bool(model.get("bundled", False)),
        "warp": float(model.get("warp") or 0.0),
    }


def editor_note(editor: dict[str, Any] | None) -> list[str]:
    """A note naming the editor that made the expansion (none without one)."""
    if editor is None:
        return []
    kind = "the editor bundled with faceaug, trained on FER2013" if editor["bundled"] else "a model file"
    warp = f", then the geometric warp at strength {editor['warp']:g}" if editor.get("warp") else ""
    return [f"Edited by {editor['name']} ({kind}; weights {editor['id']}){warp}."]
