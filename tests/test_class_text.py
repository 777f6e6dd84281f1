"""Class names typed per image: comma/space lists, runs written name*count."""

import pytest

import napari_gan as ng
from napari_gan._widgets._class_text import MAX_RUN, expand_runs, parse_frame_names, parse_labels


def test_runs_expand_in_order():
    assert expand_runs(["a*2", " b ", "*1", "c * 3"]) == ["a", "a", "b", "", "c", "c", "c"]
    assert parse_labels("healthy*2, treated*3") == ["healthy"] * 2 + ["treated"] * 3
    assert parse_labels("a * 2 b") == ["a", "a", "b"]  # spaces around * belong to the run
    assert parse_labels(" a, b c ") == ["a", "b", "c"] and parse_labels("  ") is None
    assert parse_frame_names("disc*2, , ring, *2", 6) == ["disc", "disc", None, "ring", None, None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a*0", "between 1 and"),
        (f"a*{MAX_RUN + 1}", "between 1 and"),  # refused before anything is allocated
        ("a*2b", "name\\*count"),
        ("a**2", "name\\*count"),
        ("a*2 *3", "name\\*count"),  # read as one entry, a*2*3
        ("b, *3", "every image needs a class name"),
    ],
)
def test_bad_runs_are_named(text, message):
    with pytest.raises(ng.InputError, match=message):
        parse_labels(text)


def test_frame_names_must_cover_every_frame():
    with pytest.raises(ng.InputError, match="3 class names for 4 frames"):
        parse_frame_names("a*2, b", 4)
