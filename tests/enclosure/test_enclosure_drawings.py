"""The builder's drawings: rendered by build.py, annotated from params.scad, and the clip fits the meter model.

The annotation records (NAME.json) are what drawings.scad echoed while drawing each label and
dimension, so a value checked there is the value written in the picture.
"""

import json
import math
import re

import numpy as np
import pytest
import trimesh

import enclosure_geometry as geo

BUILD = geo.load_build()
P = BUILD.read_params()
DRAWINGS_SOURCE = (geo.ENCLOSURE / "drawings.scad").read_text(encoding="utf-8")
PARTS_SHOWN = sorted({part for _, parts, _ in BUILD.DRAWINGS.values() for part in parts})

# Several params changed at once: every drawing shows at least one of them.
CHANGED = {"head_diameter": 36, "ring_magnet_od": 26, "opto_pitch": 7.5, "rim_diameter": 74, "wake_coil_height": 12}


def colour(name):
    return re.search(name + r' = "#([0-9a-fA-F]{6})";', DRAWINGS_SOURCE).group(1)


def ink_pixels(pixels, hex_colour):
    """How many pixels show `hex_colour` under OpenSCAD's lighting (the colour scaled by 0.5 .. 1)."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)], dtype=float)
    rgb = pixels[:, :, :3].astype(float)
    scale = rgb[:, :, 0] / target[0]
    close = np.all(np.abs(rgb - scale[:, :, None] * target) < 6, axis=2)
    return int(np.count_nonzero(close & (scale > 0.5) & (scale < 1.05)))


def records(folder, name):
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))["annotations"]


def dimensions_of(folder, name, param):
    return [r for r in records(folder, name) if r["kind"] == "dimension" and param in r["params"]]


def labels_of(folder, name, param):
    return [r for r in records(folder, name) if r["kind"] == "label" and param in r["params"]]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    geo.require_openscad()
    if not BUILD.shutil.which("xvfb-run"):
        pytest.skip("xvfb-run is not installed; the drawings need it")
    out = tmp_path_factory.mktemp("drawings")
    BUILD.main(["--out", str(out), *PARTS_SHOWN])  # the command line, as a builder runs it
    return out


@pytest.fixture(scope="module")
def drawn_changed(tmp_path_factory, drawn):
    out = tmp_path_factory.mktemp("drawings-changed")
    BUILD.build(out, PARTS_SHOWN, extra=CHANGED)
    return out


# ---- the pictures -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILD.DRAWINGS))
def test_drawing_is_a_picture_of_parts_and_annotations(name, drawn):
    pixels = geo.read_png(drawn / f"{name}.png")
    assert pixels.shape[:2] == (BUILD.DRAWING_SIZE[1], BUILD.DRAWING_SIZE[0])
    background = pixels[0, 0, :3]
    drawn_area = np.count_nonzero(np.any(pixels[:, :, :3] != background, axis=2)) / pixels[:, :, 0].size
    assert 0.03 < drawn_area < 0.8, f"{name}: {drawn_area:.0%} of the picture is not background"
    part = ink_pixels(pixels, "4682b4")  # SteelBlue, the parts' colour
    assert part > 5000, f"{name}: the part hardly shows ({part} pixels)"
    text = ink_pixels(pixels, colour("LABEL_COLOUR"))
    assert text > 1500, f"{name}: hardly any label ink ({text} pixels)"
    if any(r["kind"] == "dimension" for r in records(drawn, name)):
        assert ink_pixels(pixels, colour("DIMENSION_COLOUR")) > 1000, f"{name}: dimension lines missing"


def test_annotations_stay_inside_the_picture(drawn):
    # build.py frames each picture on its annotations: the framing is what keeps text in view,
    # so check it by where the ink is, not by the framing's own numbers.
    for name in BUILD.DRAWINGS:
        pixels = geo.read_png(drawn / f"{name}.png")
        background = pixels[0, 0, :3]
        used = np.any(pixels[:, :, :3] != background, axis=2)
        rows, columns = np.flatnonzero(used.any(axis=1)), np.flatnonzero(used.any(axis=0))
        assert rows[0] > 5 and rows[-1] < pixels.shape[0] - 6, f"{name}: something touches the top or bottom edge"
        assert columns[0] > 5 and columns[-1] < pixels.shape[1] - 6, f"{name}: something touches a side"


@pytest.mark.parametrize("name", list(BUILD.DRAWINGS))
def test_a_changed_dimension_changes_the_picture(name, drawn, drawn_changed):
    before = geo.read_png(drawn / f"{name}.png")
    after = geo.read_png(drawn_changed / f"{name}.png")
    changed = np.count_nonzero(np.any(before != after, axis=2))
    assert changed > 500, f"{name}: only {changed} pixels differ after changing {sorted(CHANGED)}"


def test_rebuilding_unchanged_sources_rewrites_no_drawing(drawn):
    again = BUILD.build(drawn, PARTS_SHOWN)
    assert all(not files for files in again.values()), again


# ---- the annotations come from params.scad -------------------------------------------------------


def test_labels_name_the_four_components_in_both_assemblies(drawn):
    for name in ("head-assembly", "clip-assembly"):
        first_lines = " / ".join(r["text"][0] for r in records(drawn, name) if r["kind"] == "label")
        for component in ("IR LED", "PHOTOTRANSISTOR", "MAGNET", "WAKE COIL"):
            assert component in first_lines, f"{name} has no label for the {component}: {first_lines}"


def test_dimensions_show_the_params_values(drawn):
    expected = {
        ("head-dimensions", "head_diameter"): f"Ø{P['head_diameter']}",
        ("head-dimensions", "head_height"): f"{P['head_height']}",
        ("head-dimensions", "opto_pitch"): f"{P['opto_pitch']:g}",
        ("head-dimensions", "ring_magnet_height"): f"{P['ring_magnet_height']}",
        ("head-dimensions", "ring_magnet_od"): f"Ø{P['ring_magnet_od'] + 2 * P['fit_clearance']:g}",
        ("clip-dimensions", "rim_diameter"): f"Ø{P['rim_diameter'] + 2 * P['rim_clearance']:g}",
        ("clip-dimensions", "eye_inset"): f"{P['eye_inset']}",
        ("clip-dimensions", "opto_pitch"): f"{P['opto_pitch']:g}",
        ("clip-dimensions", "collar_height"): f"{P['collar_height']}",
    }
    for (name, param), text in expected.items():
        found = [r["text"] for r in dimensions_of(drawn, name, param)]
        assert found == [text], f"{name}: dimension of {param} reads {found}, params.scad gives {text}"
    for name in BUILD.DRAWINGS:
        for record in records(drawn, name):
            assert set(record["params"]) <= set(P), f"{name}: {record} names a value params.scad does not have"


def test_a_changed_parameter_shows_its_new_value(drawn, drawn_changed):
    assert [r["text"] for r in dimensions_of(drawn_changed, "head-dimensions", "head_diameter")] == ["Ø36"]
    assert [r["text"] for r in dimensions_of(drawn_changed, "head-dimensions", "opto_pitch")] == ["7.5"]
    assert [r["text"] for r in dimensions_of(drawn_changed, "clip-dimensions", "rim_diameter")] == ["Ø74.5"]
    magnet = labels_of(drawn_changed, "head-assembly", "ring_magnet_od")
    assert [r["text"][1] for r in magnet] == [f"26 × {P['ring_magnet_id']} × {P['ring_magnet_height']}"]
    assert [r["text"][0] for r in labels_of(drawn_changed, "clip-on-meter", "rim_diameter")] == ["METER RIM Ø74"]
    coil = [r["text"][0] for r in labels_of(drawn_changed, "clip-assembly", "wake_coil_height")]
    assert coil == [f"WAKE COIL Ø{P['wake_coil_diameter']:g} × 12"]
    # and nothing else moved: every record that names none of the changed params reads as before
    for name in BUILD.DRAWINGS:
        untouched = [r["text"] for r in records(drawn, name) if not set(r["params"]) & set(CHANGED)]
        assert untouched == [r["text"] for r in records(drawn_changed, name) if not set(r["params"]) & set(CHANGED)]


def test_committed_drawings_match_the_sources(drawn):
    # The committed annotation records are what the current sources draw: build.py ran after the last change.
    for name in BUILD.DRAWINGS:
        assert records(geo.EXPORTS, name) == records(drawn, name), f"run: python enclosure/build.py ({name})"


# ---- the clip on the meter model ----------------------------------------------------------------

OPTO_DEPTH = P["opto_seat_to_tip"] + P["opto_recess"]
RIM_RADIUS = P["rim_diameter"] / 2


@pytest.fixture(scope="module")
def clip_on_meter(tmp_path_factory):
    """The meter model exported by OpenSCAD, and the committed clip moved onto it as drawings.scad places it."""
    geo.require_openscad()
    folder = tmp_path_factory.mktemp("meter")
    scene = folder / "meter.scad"
    scene.write_text(f"include <{(geo.ENCLOSURE / 'drawings.scad').as_posix()}>\nmultical21_model();\n", encoding="utf-8")
    meter = trimesh.load(BUILD.openscad_stl(scene, folder / "meter.stl"), force="mesh")
    clip = geo.load_mesh("clip")
    # turned over about the y axis, seat (print z = opto_depth) on the rim's top (z = 0)
    turn = trimesh.transformations.rotation_matrix(math.pi, [0, 1, 0])
    clip.apply_transform(trimesh.transformations.translation_matrix([0, 0, OPTO_DEPTH]) @ turn)
    return meter, clip


def test_meter_model_is_the_rim_the_params_describe(clip_on_meter):
    meter, _ = clip_on_meter
    assert meter.is_watertight
    assert meter.bounds[1, 2] == pytest.approx(0, abs=1e-6), "rim's top at z = 0"
    assert meter.bounds[0, 2] == pytest.approx(-P["meter_body_height"], abs=1e-6)
    side = [geo.ray_hits(meter, [0, 0, -P["meter_body_height"] / 2], geo.horizontal(a))[0] for a in range(0, 360, 15)]
    assert np.median(side) == pytest.approx(RIM_RADIUS, abs=0.02)
    inside_rim = RIM_RADIUS - P["meter_rim_width"] - 1
    assert geo.first_surface_below(meter, [inside_rim * 0.7, -inside_rim * 0.7]) == pytest.approx(-P["meter_face_depth"], abs=0.01)


def test_clip_rests_on_the_meter_rim(clip_on_meter):
    meter, clip = clip_on_meter
    for angle in (80, 90, 100):  # between the magnet and coil holes
        x, y = geo.polar(RIM_RADIUS - P["meter_rim_width"] / 2, angle)
        rim_top = geo.first_surface_below(meter, [x, y])
        assert rim_top == pytest.approx(0, abs=0.01)
        seat = -1 + geo.ray_hits(clip, [x, y, -1], [0, 0, 1])[0]  # up from under the pod: its seat face
        assert seat == pytest.approx(rim_top, abs=0.01), f"at {angle}°: gap {seat - rim_top:.3f} mm between pod and rim"


def test_collar_hugs_the_meter_rim_with_its_clearance(clip_on_meter):
    meter, clip = clip_on_meter
    z = -P["collar_height"] / 2
    gaps = []
    for angle in np.arange(90 - P["collar_arc"] / 2 + 5, 90 + P["collar_arc"] / 2 - 5, 10.0):
        to_meter = geo.ray_hits(meter, [0, 0, z], geo.horizontal(angle))[0]
        to_collar = geo.ray_hits(clip, [0, 0, z], geo.horizontal(angle))[0]
        gaps.append(to_collar - to_meter)
    assert min(gaps) > 0, "the collar cuts into the meter"
    assert np.median(gaps) == pytest.approx(P["rim_clearance"], abs=0.03)


def test_clip_and_meter_do_not_overlap(clip_on_meter):
    meter, clip = clip_on_meter
    # Vertices on the shared plane (the pod's seat on the rim) are on both surfaces; test the rest.
    clip_points = clip.vertices[clip.vertices[:, 2] < -0.01]
    meter_points = meter.vertices[(meter.vertices[:, 2] < -0.01) & (meter.vertices[:, 2] > -P["collar_height"] - 1)]
    assert len(clip_points) > 50 and len(meter_points) > 50
    assert not geo.is_inside(meter, clip_points).any(), "part of the collar lies inside the meter"
    assert not geo.is_inside(clip, meter_points).any(), "part of the meter lies inside the clip"


def test_led_and_phototransistor_bores_look_at_the_meter_eye(clip_on_meter):
    meter, clip = clip_on_meter
    eye_y = RIM_RADIUS - P["eye_inset"]
    for side in (-1, 1):
        x = side * P["opto_pitch"] / 2
        assert geo.ray_hits(clip, [x, eye_y, 50], [0, 0, -1]).size == 0, "the bore must be open to the meter"
        below = geo.first_surface_below(meter, [x, eye_y])
        assert below < -P["meter_face_depth"] - 0.1, "under the bore must be the eye's window, below the face"
    beside_eye = geo.first_surface_below(meter, [P["meter_eye_diameter"], eye_y - P["meter_eye_diameter"]])
    assert beside_eye == pytest.approx(-P["meter_face_depth"], abs=0.01), "the eye is a feature of its own"
