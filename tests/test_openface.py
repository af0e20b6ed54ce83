"""OpenFace CSV reader: real files (legacy, 2.x header), synthetic rows, and every unusable-file case."""

from pathlib import Path

import numpy as np
import pytest

from faceaug.aus import AU_INTENSITY_COLUMNS, AU_NAMES
from faceaug.io.openface import OpenFaceError, read_openface_csv, select_face
from faceaug.preprocess.drawn_faces import place_landmarks, write_openface_csv

DATA = Path(__file__).parent / "data" / "openface"


def test_legacy_featureextraction_real_file():
    faces = read_openface_csv(DATA / "openface_featureextraction_legacy.csv")
    assert len(faces) >= 99
    first = faces[0]
    assert first.face_id is None and first.frame == 1 and first.success
    assert first.confidence == pytest.approx(0.883333)
    assert first.aus.dtype == np.float32 and first.aus.shape == (17,)
    assert first.aus[AU_NAMES.index("AU01")] == pytest.approx(0.67730 / 5, abs=1e-4)
    assert first.presence.dtype == bool and first.presence[AU_NAMES.index("AU02")]
    assert first.landmarks.shape == (68, 2)
    assert first.landmarks[0].tolist() == pytest.approx([277.276, 181.19], abs=1e-3)


def test_2x_header_real_names_with_face_id_and_no_2d_landmarks(tmp_path):
    header = (DATA / "openface2x_featureextraction_header.csv").read_text().splitlines()[0]
    names = [n.strip() for n in header.split(",")]
    values = {n: "0" for n in names}
    values.update({"frame": "3", "face_id": "1", "confidence": "0.95", "success": "1", "AU12_r": "2.5", "AU12_c": "1"})
    csv = tmp_path / "a.csv"
    csv.write_text(header + "\n" + ", ".join(values[n] for n in names) + "\n")
    (face,) = read_openface_csv(csv)
    assert face.face_id == 1 and face.frame == 3 and face.landmarks is None
    assert face.aus[AU_NAMES.index("AU12")] == pytest.approx(0.5)
    assert face.presence[AU_NAMES.index("AU12")] and face.presence.sum() == 1


def test_facelandmarkimg_face_column_and_plain_commas(tmp_path):
    cols = ["face", "confidence", *AU_INTENSITY_COLUMNS]
    csv = tmp_path / "img.csv"
    csv.write_text(
        ",".join(cols) + "\n" + ",".join(["0", "0.9"] + ["5"] * 17) + "\n" + ",".join(["1", "0.97"] + ["1"] * 17) + "\n"
    )
    faces = read_openface_csv(csv)
    assert [f.face_id for f in faces] == [0, 1]
    assert all(f.success for f in faces)  # no success column: every row counts as detected
    np.testing.assert_allclose(faces[0].aus, 1.0)
    assert faces[0].presence.all()  # no _c columns: presence follows intensity > 0
    assert select_face(faces).face_id == 1
    assert select_face(faces, face_id=0).confidence == pytest.approx(0.9)


def test_synthetic_writer_round_trip(tmp_path):
    lm = place_landmarks((60, 50), 30, 10)
    aus = np.linspace(0, 1, 17).astype(np.float32)
    (face,) = read_openface_csv(write_openface_csv(tmp_path / "f.csv", lm, aus))
    np.testing.assert_allclose(face.aus, aus, atol=1e-3)
    np.testing.assert_allclose(face.landmarks, lm, atol=1e-2)


@pytest.mark.parametrize(
    "content, reason",
    [
        ("", "csv_empty"),
        ("frame, face_id, confidence, success, x_0\n1, 0, 0.9, 1, 3\n", "csv_no_au_columns"),
        ("frame, confidence, AU01_r\n1, 0.9, 1\n", "csv_no_au_columns"),
        ("frame, confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n", "csv_no_rows"),
        ("confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n0.9, 1, 1\n", "csv_malformed"),
        (
            "confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n0.9, 1, " + ", ".join(["x"] * 17) + "\n",
            "csv_malformed",
        ),
        (
            "confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n0.9, 1, nan" + ", 1" * 16 + "\n",
            "invalid_au_values",
        ),
        (
            "confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n0.9, 1, inf" + ", 1" * 16 + "\n",
            "invalid_au_values",
        ),
        (
            "confidence, success, " + ", ".join(AU_INTENSITY_COLUMNS) + "\n0.9, 1, -0.5" + ", 1" * 16 + "\n",
            "invalid_au_values",
        ),
    ],
    ids=["empty", "no-au-columns", "some-au-columns", "header-only", "short-row", "text", "nan", "inf", "negative"],
)
def test_unusable_csvs_raise_with_reason(tmp_path, content, reason):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    with pytest.raises(OpenFaceError) as info:
        read_openface_csv(csv)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError) and str(info.value)


def test_binary_file_is_unreadable(tmp_path):
    csv = tmp_path / "bin.csv"
    csv.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(OpenFaceError) as info:
        read_openface_csv(csv)
    assert info.value.reason == "csv_unreadable"


def test_failed_rows_tolerate_nan_and_are_never_selected(tmp_path):
    aus = np.full(17, 0.2, np.float32)
    csv = write_openface_csv(
        tmp_path / "f.csv",
        None,
        aus,
        rows=[
            {"face_id": 0, "success": 0, "confidence": 0.99, "AU01_r": "nan"},
            {"face_id": 1, "success": 1, "confidence": 0.9},
        ],
    )
    faces = read_openface_csv(csv)
    assert not faces[0].success and np.isfinite(faces[0].aus).all()
    assert select_face(faces).face_id == 1


def test_select_face_reasons(tmp_path):
    aus = np.zeros(17, np.float32)
    rows = [{"face_id": 0, "confidence": 0.85}, {"face_id": 2, "confidence": 0.6}, {"face_id": 3, "success": 0}]
    faces = read_openface_csv(write_openface_csv(tmp_path / "f.csv", None, aus, rows=rows))
    assert select_face(faces).face_id == 0
    for kwargs, reason in [
        ({"min_confidence": 0.9}, "low_confidence"),
        ({"face_id": 2}, "low_confidence"),
        ({"face_id": 3}, "no_success"),
        ({"face_id": 7}, "face_id_missing"),
    ]:
        with pytest.raises(OpenFaceError) as info:
            select_face(faces, **kwargs)
        assert info.value.reason == reason, kwargs
    assert select_face(faces, face_id=2, min_confidence=0.5).confidence == pytest.approx(0.6)


def test_a_confidence_that_is_not_a_number_is_not_known_and_never_shown_as_zero(tmp_path):
    csv = write_openface_csv(
        tmp_path / "f.csv",
        None,
        np.zeros(17, np.float32),
        rows=[{"face_id": 0, "confidence": "nan"}, {"face_id": 1, "confidence": "inf"}],
    )
    faces = read_openface_csv(csv)
    assert [f.confidence for f in faces] == [None, None]
    with pytest.raises(OpenFaceError) as info:
        select_face(faces, face_id=0, min_confidence=0.8)
    assert info.value.reason == "low_confidence"
    assert "n/a" in str(info.value) and "0.00" not in str(info.value)
    assert select_face(faces, face_id=0, min_confidence=0.0) is faces[0]  # where any confidence passes
