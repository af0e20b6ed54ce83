"""How good are GANimation edits? Scored on the synthetic world by its oracles (faceaug.synth.oracle).

Every source face is edited toward every expression preset; for each edit:

- AU error: mean absolute difference between the AU oracle's reading of the edited face and the preset vector
  (0–1 scale, averaged over the 17 AUs). For scale, the same for the unedited faces, and the oracle's own error on
  the unedited faces against their true AUs (the floor an editor can be measured against);
- recognition: share of edits the emotion oracle classifies as the target preset (and, for scale, how often the
  unedited face already is, and how often the oracle recognises the sources' own labels);
- attention mean (1 = pixel kept from the input; 0.05–0.95 = neither "no edit" nor "full repaint");
- pixel change (mean absolute difference, 0–255 grey levels, averaged over channels) inside and outside the face
  region (convex hull of the 68 landmarks mapped into the crop), and the colour shift outside it: the change left
  once each pixel's grey part (its channel mean) is taken out — 0 for a brightness change, > 0 for a tint.

    result = evaluate_edits(editor, load_source_faces(work_dir), AuOracle.load(a), EmotionOracle.load(e))
    python -m faceaug.metrics.edit_quality --work WORK --model MODEL_FILE|bundled --oracles DIR [--out J]

With `--oracles DIR` holding the `oracle_report.json` written by `faceaug.synth.oracle_build`, the numbers are also
given for the sources whose subjects the oracles never saw in training ("oracle_unseen").
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from faceaug.aus import AU_NAMES, PRESET_NAMES, preset_vector
from faceaug.errors import UserError
from faceaug.io.images import resize_face
from faceaug.metrics.edit_measures import colour_change

#: Acceptance bars of the editor (fast profile, CPU, ≤ 15 min on ~2,000 synthetic faces at 64 px).
MAX_AU_ERROR = 0.10
MIN_RECOGNITION = 0.85
ATTENTION_RANGE = (0.05, 0.95)


@dataclass
class SourceFaces:
    """Faces to edit: RGB uint8 crops (N, H, W, 3), optional true AUs (N, 17), labels, subjects, and face-region
    masks (N, H, W) bool (None = no region known: outside-face change is not reported)."""

    images: np.ndarray
    aus: np.ndarray | None = None
    labels: list[str] | None = None
    subjects: list[str] | None = None
    face_masks: np.ndarray | None = None
    landmarks: list[np.ndarray | None] | None = None  # each face's 68 landmarks in its crop's pixels (or None)

    def subset(self, keep: np.ndarray) -> SourceFaces:
        pick = lambda xs: None if xs is None else [x for x, k in zip(xs, keep) if k]  # noqa: E731
        return SourceFaces(
            self.images[keep],
            None if self.aus is None else self.aus[keep],
            pick(self.labels),
            pick(self.subjects),
            None if self.face_masks is None else self.face_masks[keep],
            pick(self.landmarks),
        )


def face_region_masks(landmarks: Sequence, transforms: Sequence, size: int) -> np.ndarray:
    """(N, size, size) bool: the convex hull of each face's 68 landmarks (source px, x_0..x_67 then y_0..y_67)
    mapped by its 2×3 source → crop transform. A face without landmarks counts as face everywhere."""
    masks = np.zeros((len(landmarks), size, size), dtype=np.uint8)
    for i, crop in enumerate(crop_landmarks(landmarks, transforms)):
        if crop is None:
            masks[i] = 1
            continue
        cv2.fillConvexPoly(masks[i], cv2.convexHull(np.round(crop).astype(np.int32)), 1)
    return masks.astype(bool)


def crop_landmarks(landmarks: Sequence, transforms: Sequence) -> list[np.ndarray | None]:
    """Each face's 68 landmarks (faces.parquet's flat source-pixel values) mapped into its crop by its 2×3
    transform, (68, 2), or None for a face without landmarks."""
    from faceaug.preprocess.align import landmark_points, transform_points

    points = [landmark_points(lm) for lm in landmarks]
    return [None if p is None else transform_points(p, m) for p, m in zip(points, transforms)]


def load_source_faces(work_dir: Path, split: str = "test", max_faces: int = 0) -> SourceFaces:
    """The `split` faces of a `faceaug preprocess` work folder (held-out subjects by default), at crop size."""
    from faceaug.io.images import read_image
    from faceaug.schema import read_table

    work_dir = Path(work_dir)
    if not (work_dir / "faces.parquet").is_file():
        raise UserError(f"{work_dir / 'faces.parquet'} does not exist; run `faceaug preprocess` first.")
    table = read_table(work_dir / "faces.parquet", "faces")
    table = table[table["split"] == split].reset_index(drop=True)
    if table.empty:
        raise UserError(f"{work_dir / 'faces.parquet'} has no faces in the '{split}' split.")
    if max_faces and len(table) > max_faces:
        table = table.iloc[np.linspace(0, len(table) - 1, max_faces).round().astype(int)].reset_index(drop=True)
    images = np.stack([read_image(work_dir / p) for p in table["image_path"]])
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=3)
    # crop_transform maps source pixels into the crop as written by preprocess (its side = the stored crop side)
    masks = face_region_masks(list(table["landmarks"]), list(table["crop_transform"]), images.shape[1])
    landmarks = crop_landmarks(list(table["landmarks"]), list(table["crop_transform"]))
    return SourceFaces(
        images=images,
        aus=table[list(AU_NAMES)].to_numpy(np.float32),
        labels=list(table["label"]),
        subjects=list(table["subject"]),
        face_masks=masks,
        landmarks=landmarks,
    )


def _resize_masks(masks: np.ndarray, size: int) -> np.ndarray:
    if masks.shape[1] == size:
        return masks
    return np.stack(
        [cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) for m in masks]
    ).astype(bool)


#: Where the source faces' own AUs handed to the editor come from: the work folder's table (OpenFace's values —
#: the synthetic world's true AUs), the AU oracle's reading of the face (an imperfect estimator, like OpenFace
#: on real faces), or the preset prototype of the face's label (what a model trained with `--aus-from-labels`
#: learned to read; inference.au_coherence's rule for such a model). Only relative-conditioned editors use them.
SOURCE_AUS = ("table", "oracle", "prototype")


def _region_means(values: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image (N, S, S) → the mean inside and outside its face mask (0 where a region is empty)."""
    inside = np.array([v[m].mean() if m.any() else 0.0 for v, m in zip(values, masks)])
    outside = np.array([v[~m].mean() if (~m).any() else 0.0 for v, m in zip(values, masks)])
    return inside, outside


def evaluate_edits(
    editor,
    sources: SourceFaces,
    au_oracle,
    emotion_oracle,
    presets: Sequence[str] = PRESET_NAMES,
    source_aus: str = "table",
) -> dict:
    """Edit every source toward every preset with `editor` (a faceaug.inference.editor.GanimationEditor or anything with
    `.edit(faces_uint8, aus, source_aus) -> (uint8, attention)` and `.image_size`) and score the edits. Returns
    plain numbers: overall keys plus `per_preset` {name: {...}}. `source_aus`: one of SOURCE_AUS."""
    if len(sources.images) == 0:
        raise ValueError("no source faces to edit")
    if source_aus not in SOURCE_AUS:
        raise ValueError(f"source_aus must be one of {SOURCE_AUS}, not {source_aus!r}")
    size = editor.image_size
    small = np.stack([resize_face(image, size) for image in sources.images])
    masks = None if sources.face_masks is None else _resize_masks(sources.face_masks, size)
    unedited_aus = au_oracle.predict(small)
    unedited_class = emotion_oracle.predict(small)
    if source_aus == "prototype":
        if sources.labels is None:
            raise ValueError("source_aus='prototype' needs the sources' labels")
        given = np.stack([preset_vector(label.lower()) for label in sources.labels]).astype(np.float32)
    else:
        given = unedited_aus if source_aus == "oracle" or sources.aus is None else sources.aus
    known = set(emotion_oracle.classes)
    per_preset: dict[str, dict[str, float]] = {}
    pooled: dict[str, list[np.ndarray]] = {
        k: [] for k in ("err", "err0", "hit", "hit0", "att", "att_face", "out", "in", "tint")
    }
    for name in presets:
        target = np.repeat(preset_vector(name)[None], len(small), 0)
        if getattr(editor, "uses_landmarks", False) and sources.landmarks is not None:
            scale = size / sources.images.shape[1]
            own = [None if lm is None else lm * scale for lm in sources.landmarks]
            edited, attention = editor.edit(small, target, given, landmarks=own)
        else:
            edited, attention = editor.edit(small, target, given)
        err = np.abs(au_oracle.predict(edited) - target).mean(1)
        err0 = np.abs(unedited_aus - target).mean(1)
        row = {
            "au_error": float(err.mean()),
            "au_error_unedited": float(err0.mean()),
            "attention_mean": float(attention.mean()),
        }
        pooled["err"].append(err)
        pooled["err0"].append(err0)
        pooled["att"].append(attention.reshape(len(small), -1).mean(1))
        if name in known:
            hit, hit0 = emotion_oracle.predict(edited) == name, unedited_class == name
            row.update(recognition=float(hit.mean()), recognition_unedited=float(hit0.mean()))
            pooled["hit"].append(hit)
            pooled["hit0"].append(hit0)
        diff = np.abs(edited.astype(np.float32) - small.astype(np.float32)).mean(3)
        tint = colour_change(edited, small)
        if masks is not None:
            inside, outside = _region_means(diff, masks)
            tint_outside = _region_means(tint, masks)[1]
            pooled["tint"].append(tint_outside)
            row["colour_shift_outside_face"] = float(tint_outside.mean())
            attention_face = _region_means(attention, masks)[0]
            row.update(
                change_inside_face=float(inside.mean()),
                change_outside_face=float(outside.mean()),
                attention_mean_face=float(attention_face.mean()),
            )
            pooled["in"].append(inside)
            pooled["out"].append(outside)
            pooled["att_face"].append(attention_face)
        else:
            row.update(change_all=float(diff.mean()))
        per_preset[name] = row
    mean = lambda key: float(np.concatenate(pooled[key]).mean()) if pooled[key] else float("nan")  # noqa: E731
    result = {
        "sources": len(small),
        "edits": len(small) * len(presets),
        "image_size": size,
        "au_error": mean("err"),
        "au_error_unedited": mean("err0"),
        "recognition": mean("hit"),
        "recognition_unedited": mean("hit0"),
        "attention_mean": mean("att"),
        "attention_mean_face": mean("att_face"),
        "face_fraction": float(masks.mean()) if masks is not None else float("nan"),
        "change_inside_face": mean("in"),
        "change_outside_face": mean("out"),
        "colour_shift_outside_face": mean("tint"),
    }
    if sources.aus is not None:
        result["au_oracle_error_on_sources"] = float(np.abs(unedited_aus - sources.aus).mean())
    if sources.labels is not None:
        labelled = np.array([lab in known for lab in sources.labels])
        if labelled.any():
            result["emotion_oracle_accuracy_on_sources"] = float(
                (unedited_class[labelled] == np.asarray(sources.labels, dtype=object)[labelled]).mean()
            )
    result["passes"] = {
        "au_error": result["au_error"] <= MAX_AU_ERROR,
        "recognition": result["recognition"] >= MIN_RECOGNITION,
        "attention": ATTENTION_RANGE[0] < result["attention_mean"] < ATTENTION_RANGE[1],
    }
    result["per_preset"] = per_preset
    result["source_aus"] = source_aus
    return result


def oracle_train_subjects(oracle_dir: Path) -> set[str] | None:
    """Subjects the oracles were trained on (from oracle_build's report), or None if unknown."""
    report = Path(oracle_dir) / "oracle_report.json"
    if not report.is_file():
        return None
    return set(json.loads(report.read_text(encoding="utf-8")).get("train_subjects") or []) or None


def find_oracles(oracle_dir: Path):
    """(AuOracle, EmotionOracle) loaded from the *.safetensors files in `oracle_dir`."""
    from faceaug.synth.oracle import AuOracle, EmotionOracle

    oracle_dir = Path(oracle_dir)
    au = sorted(oracle_dir.glob("au*.safetensors"))
    emo = sorted(oracle_dir.glob("emotion*.safetensors")) or sorted(oracle_dir.glob("emo*.safetensors"))
    if not au or not emo:
        raise UserError(
            f"{oracle_dir} must hold au_oracle.safetensors and emotion_oracle.safetensors "
            "(build them with `python -m faceaug.synth.oracle_build`)."
        )
    return AuOracle.load(au[0]), EmotionOracle.load(emo[0])


def format_table(result: dict) -> str:
    """A plain-text table: one row per preset, then the overall figures and the acceptance bars."""
    lines = [
        f"{'preset':10s} {'AU err':>7s} {'unedited':>8s} {'recog.':>7s} {'unedited':>8s} {'attn':>5s} "
        f"{'Δin':>6s} {'Δout':>6s}"
    ]
    for name, r in result["per_preset"].items():
        rec = f"{100 * r['recognition']:6.1f}%" if "recognition" in r else "      -"
        rec0 = f"{100 * r['recognition_unedited']:7.1f}%" if "recognition_unedited" in r else "       -"
        lines.append(
            f"{name:10s} {r['au_error']:7.3f} {r['au_error_unedited']:8.3f} {rec} {rec0} "
            f"{r['attention_mean']:5.2f} {r.get('change_inside_face', float('nan')):6.1f} "
            f"{r.get('change_outside_face', float('nan')):6.1f}"
        )
    ok = lambda b: "ok" if b else "MISSED"  # noqa: E731
    p = result["passes"]
    lines += [
        f"{'all':10s} {result['au_error']:7.3f} {result['au_error_unedited']:8.3f} "
        f"{100 * result['recognition']:6.1f}% {100 * result['recognition_unedited']:7.1f}% "
        f"{result['attention_mean']:5.2f} {result['change_inside_face']:6.1f} {result['change_outside_face']:6.1f}",
        f"{result['sources']} sources × {len(result['per_preset'])} presets = {result['edits']} edits at "
        f"{result['image_size']} px; Δ = mean |edited − source| in grey levels (0–255) inside / outside the face.",
        f"AU error ≤ {MAX_AU_ERROR}: {ok(p['au_error'])} · recognition ≥ {100 * MIN_RECOGNITION:.0f}%: "
        f"{ok(p['recognition'])} · attention in {ATTENTION_RANGE}: {ok(p['attention'])} "
        f"({result['attention_mean']:.4f} over the crop)",
    ]
    if np.isfinite(result.get("attention_mean_face", float("nan"))):
        lines.append(
            f"attention mean inside the face {result['attention_mean_face']:.3f} (the face is "
            f"{100 * result['face_fraction']:.0f}% of the crop; 1 = pixel kept from the source)"
        )
    if "au_oracle_error_on_sources" in result:
        lines.append(
            f"oracle floor on the unedited sources: AU error vs true AUs "
            f"{result['au_oracle_error_on_sources']:.3f}, emotion accuracy "
            f"{100 * result.get('emotion_oracle_accuracy_on_sources', float('nan')):.1f}%"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Score GANimation edits with the synthetic world's oracles.")
    parser.add_argument("--work", type=Path, required=True, help="work folder made by `faceaug preprocess`")
    parser.add_argument(
        "--model",
        help="GANimation model file, 'bundled', or 'warp' for the geometric warp alone "
        "(default WORK/models/ganimation.safetensors)",
    )
    parser.add_argument(
        "--warp", type=float, default=0.0, help="warp strength after the model's edits (0 = none; 1 with --model warp)"
    )
    parser.add_argument("--oracles", type=Path, required=True, help="folder with the oracle .safetensors files")
    parser.add_argument("--split", default="test", help="faces.parquet split to edit (default: held-out test)")
    parser.add_argument("--max-faces", type=int, default=0, help="edit at most this many sources (0 = all)")
    parser.add_argument(
        "--source-aus",
        choices=SOURCE_AUS,
        default="table",
        help="the sources' own AUs a relative-conditioned editor is given: the table's (default), "
        "the AU oracle's estimate from the face, or the prototype of the face's label",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from faceaug.inference.editor import GanimationEditor
    from faceaug.inference.warp import WARP, WarpEditor
    from faceaug.io.atomic import write_json_atomic
    from faceaug.models.ganimation_file import default_model_path
    from faceaug.pretrained import BUNDLED, bundled_editor_path

    if args.model == WARP:
        model_path, editor = WARP, WarpEditor(args.warp or 1.0)
    else:
        own = Path(args.model or default_model_path(args.work))
        model_path = bundled_editor_path() if args.model == BUNDLED else own
        editor = GanimationEditor.load(model_path, torch.device("cpu"))
        if args.warp > 0:
            editor = WarpEditor(args.warp, base=editor)
    au_oracle, emotion_oracle = find_oracles(args.oracles)
    sources = load_source_faces(args.work, args.split, args.max_faces)
    result = evaluate_edits(editor, sources, au_oracle, emotion_oracle, source_aus=args.source_aus)
    print(format_table(result))
    seen = oracle_train_subjects(args.oracles)
    if seen is not None and sources.subjects is not None:
        keep = np.array([s not in seen for s in sources.subjects])
        if keep.any():
            unseen = evaluate_edits(editor, sources.subset(keep), au_oracle, emotion_oracle, source_aus=args.source_aus)
            result["oracle_unseen"] = {k: v for k, v in unseen.items() if k != "per_preset"}
            print(
                f"\nsources whose subjects the oracles never saw ({int(keep.sum())}): AU error "
                f"{unseen['au_error']:.3f}, recognition {100 * unseen['recognition']:.1f}%, "
                f"attention {unseen['attention_mean']:.2f}, Δout {unseen['change_outside_face']:.1f}"
            )
    result["model"] = str(model_path)
    result["warp"] = args.warp
    result["model_id"] = editor.model_id
    if args.out:
        write_json_atomic(result, args.out)
    return result


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        raise SystemExit(f"error: {exc}") from None
