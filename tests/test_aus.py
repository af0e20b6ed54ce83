import numpy as np
import pytest

from faceaug.aus import (
    AU_INTENSITY_COLUMNS,
    AU_NAMES,
    PRESET_NAMES,
    PRESETS,
    openface_to_unit,
    parse_au_spec,
    unit_to_openface,
)
from faceaug.errors import UserError


def test_catalogue_is_the_17_openface_intensity_aus_in_ganimation_order():
    assert AU_NAMES == (
        "AU01",
        "AU02",
        "AU04",
        "AU05",
        "AU06",
        "AU07",
        "AU09",
        "AU10",
        "AU12",
        "AU14",
        "AU15",
        "AU17",
        "AU20",
        "AU23",
        "AU25",
        "AU26",
        "AU45",
    )
    assert AU_INTENSITY_COLUMNS[0] == "AU01_r" and AU_INTENSITY_COLUMNS[-1] == "AU45_r"


def test_normalisation_round_trip_and_clipping():
    raw = np.array([0.0, 1.25, 2.5, 5.0], dtype=np.float32)
    unit = openface_to_unit(raw)
    np.testing.assert_allclose(unit, [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(unit_to_openface(unit), raw)
    np.testing.assert_allclose(openface_to_unit([-1.0, 7.0]), [0.0, 1.0])


def test_preset_name_and_lists():
    (happy,) = parse_au_spec("happy")
    assert happy.name == "happy"
    v = happy.vector
    assert v[AU_NAMES.index("AU12")] > 0.5 and v[AU_NAMES.index("AU06")] > 0.3
    assert v.sum() == pytest.approx(sum(PRESETS["happy"].values()))
    assert [c.name for c in parse_au_spec("happy, sad")] == ["happy", "sad"]
    assert [c.name for c in parse_au_spec("all")] == list(PRESET_NAMES)
    (neutral,) = parse_au_spec("neutral")
    assert not neutral.vector.any()


def test_every_preset_uses_known_aus_in_range():
    for name, values in PRESETS.items():
        for au, value in values.items():
            assert au in AU_NAMES, name
            assert 0.0 < value <= 1.0, name


def test_custom_specs():
    (c,) = parse_au_spec("AU06=0.8,AU12=1.0")
    assert c.vector[AU_NAMES.index("AU06")] == pytest.approx(0.8)
    assert c.vector[AU_NAMES.index("AU12")] == pytest.approx(1.0)
    assert c.name.startswith("custom_")
    (named,) = parse_au_spec("smile:AU6=0.8,AU12=1")
    assert named.name == "smile" and named.vector[AU_NAMES.index("AU06")] == pytest.approx(0.8)
    mixed = parse_au_spec("happy;smile:AU12=0.6")
    assert [m.name for m in mixed] == ["happy", "smile"]


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("joyful", "Valid: neutral, happy"),
        ("AU99=0.5", "Valid AUs"),
        ("AU12=high", "Malformed"),
        ("AU12=1.5", "outside 0–1"),
        ("AU12=0.5,AU12=0.6", "twice"),
        ("happy,happy", "more than once"),
        ("bad name:AU12=1", "letters, digits"),
        ("", "Empty"),
    ],
)
def test_invalid_specs_name_the_valid_choices(spec, fragment):
    with pytest.raises(UserError, match=fragment):
        parse_au_spec(spec)
