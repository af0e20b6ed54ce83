"""`faceaug report PATH`: what a dataset or an expansion holds and whether the generated images are any good.

PATH = a WORK_DIR, an expand OUT_DIR or a manifest file. Writes, next to the manifest (or into WORK_DIR without
an expansion): report.html (one self-contained page), report.json (verdict, numbers, warnings) and, for an
expansion, metrics.parquet (per-image metrics; the manifest is never rewritten). Prints the summary.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceaug.console import info, progress
from faceaug.errors import UserError
from faceaug.fer.au_estimator import AuEstimator, default_au_estimator_path, trained_against
from faceaug.io.atomic import write_bytes_atomic, write_json_atomic
from faceaug.io.images import refuse_damaged_images
from faceaug.preprocess.align import crop_template_id
from faceaug.report.attention import attention_of, expansion_editor
from faceaug.report.checks import Finding, dataset_findings, image_findings, model_findings, variant_maker
from faceaug.report.html import is_faceaug_report
from faceaug.report.inputs import MANIFEST, ReportInputs, load_inputs
from faceaug.report.notes import editor_note, editor_of, gate_notes
from faceaug.report.scoring import estimator_source, load_from, openface_source, score_manifest
from faceaug.report.sections import counts_table, page
from faceaug.report.verdict import judge
from faceaug.schema import write_table_atomic

HTML_FILE = "report.html"
JSON_FILE = "report.json"
METRICS_FILE = "metrics.parquet"


@dataclass
class ReportRequest:
    path: Path
    html: Path | None = None
    metrics: bool = True
    au_estimator: Path | None = None
    inception_weights: Path | None = None
    openface_dir: Path | None = None
    sifid_dims: int = 64
    device: str = "cpu"


def _estimator(request: ReportRequest, inputs: ReportInputs) -> AuEstimator | None:
    if request.au_estimator is not None:
        return AuEstimator.load(Path(request.au_estimator))
    if inputs.work_dir is not None and default_au_estimator_path(inputs.work_dir).is_file():
        return AuEstimator.load(default_au_estimator_path(inputs.work_dir))
    return None


def _sifid_stem(request: ReportRequest, notes: list[str]):
    from faceaug.metrics.sifid import WEIGHTS_FILE, find_inception_weights, load_inception_stem

    path = find_inception_weights(request.inception_weights)
    if path is None:
        notes.append(
            f"SIFID was not computed: it needs the pytorch-fid InceptionV3 weights ({WEIGHTS_FILE}), which "
            "cannot be downloaded here; pass --inception-weights FILE or put the file in the torch hub "
            "cache."
        )
        return None
    return load_inception_stem(path, request.sifid_dims)


def _html_path(request: ReportRequest, inputs: ReportInputs) -> Path:
    path = Path(request.html) if request.html else (inputs.out_dir or inputs.work_dir) / HTML_FILE
    if path.exists():
        head = path.read_text(errors="replace")[:2000] if path.is_file() else ""
        if not is_faceaug_report(head):
            raise UserError(f"{path} exists and is not a faceaug report; choose another --html (nothing written).")
    return path


def _check_images(inputs: ReportInputs, html_path: Path) -> None:
    """Every image the manifest lists exists inside OUT_DIR (no link out of it) and decodes, before anything is
    scored or written; otherwise a UserError that names them and says which earlier report is still there."""
    earlier = [path for path in (html_path, html_path.parent / JSON_FILE) if path.is_file()]
    note = (
        f"{' and '.join(str(path) for path in earlier)} {'are' if len(earlier) > 1 else 'is'} from an earlier "
        "run, not about these images."
        if earlier
        else ""
    )
    table = inputs.path if inputs.path.is_file() else inputs.out_dir / MANIFEST
    refuse_damaged_images(
        inputs.out_dir, inputs.manifest["path"], table=table, writer="the same `faceaug expand` command", note=note
    )


def run_report(request: ReportRequest) -> dict[str, Any]:
    started = time.perf_counter()
    inputs = load_inputs(Path(request.path))
    html_path = _html_path(request, inputs)
    if inputs.has_expansion:
        _check_images(inputs, html_path)
    findings: list[Finding] = dataset_findings(inputs)
    editor_used = editor_of(inputs)
    notes: list[str] = editor_note(editor_used) + gate_notes(inputs)
    est = None if request.openface_dir else _estimator(request, inputs)
    metrics, editor, attention = None, None, None
    maker = variant_maker(inputs.manifest) if inputs.has_expansion else "SinGAN"
    if inputs.has_expansion:
        editor = expansion_editor(inputs, request.device)
        attention = attention_of(editor, inputs)
        if editor is not None:
            sources = set(inputs.generated["source_id"])
            methods = (
                inputs.faces.loc[inputs.faces["face_id"].isin(sources), "landmark_method"]
                if inputs.faces is not None
                else []
            )
            trained = (editor.provenance.get("training") or {}).get("landmark_methods")
            findings += model_findings(editor.crop_template, crop_template_id(), str(editor.model_id), trained, methods)
            judge_problem = trained_against(editor.provenance, est) if est is not None else None
            if judge_problem:
                findings.append(Finding("au_judge", f"{judge_problem}."))
    if inputs.has_expansion and request.metrics:
        if request.openface_dir is not None and not Path(request.openface_dir).is_dir():
            raise UserError(f"--openface-dir {request.openface_dir} is not a folder.")
        source = (
            openface_source(Path(request.openface_dir))
            if request.openface_dir
            else estimator_source(est, request.device)
            if est is not None
            else None
        )
        stem = _sifid_stem(request, notes)
        with progress() as bar:
            task = bar.add_task("score images", total=len(inputs.manifest))
            metrics = score_manifest(
                inputs.manifest,
                load_from(inputs.out_dir),
                au_source=source,
                sifid_stem=stem,
                attention_of=attention,
                on_progress=lambda n: bar.advance(task, n),
            )
        write_table_atomic(metrics, inputs.out_dir / METRICS_FILE, "metrics")
        findings += image_findings(metrics, maker)
    elif inputs.has_expansion:
        notes.append("Per-image metrics were skipped (--no-metrics).")
    verdict = judge(
        metrics,
        findings,
        est.heldout | {"au_source": est.training.get("au_source", [])} if est is not None else None,
        maker,
    )
    counts = counts_table(inputs)
    html = page(inputs, verdict, findings, counts, metrics, attention, est, notes)
    write_bytes_atomic(html.encode(), html_path)
    summary = {
        "verdict": {"level": verdict.level, "text": verdict.text, "numbers": verdict.numbers},
        "editor": editor_used,
        "findings": [f.__dict__ for f in findings],
        "notes": notes,
        "counts": json.loads(counts.to_json(orient="index")),
        "html": str(html_path),
        "metrics": str(inputs.out_dir / METRICS_FILE) if metrics is not None else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(summary, html_path.parent / JSON_FILE)
    from faceaug.report.terminal import print_report

    print_report(verdict, findings, counts, metrics, notes)
    info(f"report: {html_path} ({summary['seconds']:.0f} s)")
    return summary


__all__ = ["ReportRequest", "run_report"]
