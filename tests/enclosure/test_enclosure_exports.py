"""The committed exports are what the sources produce, and the sources reject impossible sizes."""

import struct

import numpy as np
import pytest

import enclosure_geometry as geo

BUILD = geo.load_build()
P = BUILD.read_params()


@pytest.fixture(scope="module")
def fresh_exports(tmp_path_factory):
    geo.require_openscad()
    out = tmp_path_factory.mktemp("enclosure-export")
    BUILD.build(out, pictures=False)
    return out


def test_export_folder_holds_exactly_the_parts_their_pictures_and_the_drawings():
    stls = {p.stem for p in geo.EXPORTS.glob("*.stl")}
    pngs = {p.stem for p in geo.EXPORTS.glob("*.png")}
    records = {p.stem for p in geo.EXPORTS.glob("*.json")}
    assert stls == set(BUILD.PARTS)
    assert pngs == {name + suffix for name, (_, _, views) in BUILD.PARTS.items() for suffix in views} | set(BUILD.DRAWINGS)
    assert records == set(BUILD.DRAWINGS)
    assert {p.suffix for p in geo.EXPORTS.iterdir()} == {".stl", ".png", ".json"}


@pytest.mark.parametrize("name", list(BUILD.PARTS))
def test_committed_export_matches_a_fresh_export_of_its_source(name, fresh_exports):
    committed = geo.load_mesh(name)
    fresh = geo.load_mesh(name, fresh_exports)
    assert fresh.volume == pytest.approx(committed.volume, rel=1e-6), "run: python enclosure/build.py"
    assert np.allclose(fresh.bounds, committed.bounds, atol=1e-4), "run: python enclosure/build.py"
    assert fresh.area == pytest.approx(committed.area, rel=1e-6), "run: python enclosure/build.py"
    # build.py's own check, which keeps an unchanged STL out of git, agrees with trimesh
    assert BUILD.same_solid(fresh_exports / f"{name}.stl", geo.EXPORTS / f"{name}.stl")


def test_same_solid_tells_different_parts_apart():
    assert not BUILD.same_solid(geo.EXPORTS / "head.stl", geo.EXPORTS / "head-coil.stl")
    assert not BUILD.same_solid(geo.EXPORTS / "clip.stl", geo.EXPORTS / "clip-coil-only.stl")


@pytest.mark.parametrize("picture", sorted(geo.EXPORTS.glob("*.png")), ids=lambda p: p.name)
def test_pictures_are_rendered_images_of_the_stated_size(picture):
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (BUILD.DRAWING_SIZE if picture.stem in BUILD.DRAWINGS else BUILD.PNG_SIZE)
    assert len(data) > 8000, "an almost empty picture: the render showed nothing"


def test_head_without_ring_magnet_keeps_its_face_solid(tmp_path):
    geo.require_openscad()
    head = geo.load_mesh("head", BUILD.export_stl("head", tmp_path, extra={"head_wake_coil": "instead"}).parent)
    mid = (P["ring_magnet_od"] + P["ring_magnet_id"]) / 4
    hits = geo.ray_hits(head, [0, -mid, -1], [0, 0, 1]) - 1
    # solid from the face to where the magnet would have ended, then the cavity
    assert hits[:2] == pytest.approx([0, P["face_skin"] + P["ring_magnet_height"]], abs=0.01)
    coil_r = P["wake_coil_diameter"] / 2 + P["fit_clearance"]
    centre = geo.polar(P["ring_magnet_od"] / 2 + P["fit_clearance"] + P["head_coil_wall"] + coil_r, P["head_coil_angle"])
    assert np.median(geo.radii_from(head, centre, P["face_skin"] + 1)) == pytest.approx(coil_r, abs=0.03)


def test_a_board_too_big_for_the_cavity_fails_the_export(tmp_path):
    geo.require_openscad()
    with pytest.raises(RuntimeError, match="diagonal"):
        BUILD.export_stl("head", tmp_path, extra={"board_width": 22})


def test_params_file_accepts_only_literals(tmp_path):
    good = tmp_path / "good.scad"
    good.write_text('a = 1.5; // why\nb = "beside";\nc = [1, -2];\nd = true;\n// e = 3;\n', encoding="utf-8")
    assert BUILD.read_params(good) == {"a": 1.5, "b": "beside", "c": [1, -2], "d": True}
    bad = tmp_path / "bad.scad"
    bad.write_text("a = 2 * 3;\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a literal"):
        BUILD.read_params(bad)
