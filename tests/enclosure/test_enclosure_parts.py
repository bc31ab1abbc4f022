"""The committed exports measured with trimesh: sizes come from the mesh, expectations from params.scad.

Print coordinates throughout: the head lies face down, the lid outer face down, the clip on the
face you see on the meter (enclosure/README.md, "Printing").
"""

import math

import numpy as np
import pytest
import trimesh

import enclosure_geometry as geo

BUILD = geo.load_build()
P = BUILD.read_params()
MESHES = {name: geo.load_mesh(name) for name in BUILD.PARTS}

BORE_RADIUS = P["opto_diameter"] / 2 + P["opto_bore_clearance"]
OPTO_DEPTH = P["opto_seat_to_tip"] + P["opto_recess"]
HEAD_RADIUS = P["head_diameter"] / 2
CAVITY_RADIUS = P["ring_magnet_od"] / 2 + P["fit_clearance"]
MAGNET_TOP = P["face_skin"] + P["ring_magnet_height"]
COIL_RADIUS = P["wake_coil_diameter"] / 2 + P["fit_clearance"]
RIM_RADIUS = P["rim_diameter"] / 2
EYE = np.array([0.0, RIM_RADIUS - P["eye_inset"]])


def along_rim(arc, inset):
    return geo.polar(RIM_RADIUS - inset, 90 - math.degrees(arc / RIM_RADIUS))


def ring_wall_hits(mesh, z, angles):
    """Per angle, the crossings of a ray from the head's axis outwards."""
    return [geo.ray_hits(mesh, [0, 0, z], geo.horizontal(a)) for a in angles]


# ---- every part ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILD.PARTS))
def test_part_is_one_watertight_body(name):
    mesh = MESHES[name]
    assert mesh.is_watertight, name
    assert mesh.is_winding_consistent, name
    assert len(mesh.split(only_watertight=False)) == 1, f"{name} falls apart into several bodies"
    assert mesh.volume > 1000, name


@pytest.mark.parametrize("name", list(BUILD.PARTS))
def test_part_prints_without_supports_as_exported(name):
    mesh = MESHES[name]
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-6), f"{name} is not exported on the build plate"
    area = geo.overhang_area(mesh, P["overhang_limit_deg"])
    assert area <= geo.OVERHANG_ALLOWANCE_MM2, f"{name}: {area:.2f} mm² overhang beyond {P['overhang_limit_deg']}°"
    assert geo.plate_contact_area(mesh) > 300, f"{name} barely touches the build plate"


def test_overhang_measure_sees_a_floating_roof_and_ignores_the_plate():
    box = trimesh.creation.box(extents=[10, 10, 5])
    box.apply_translation([0, 0, 2.5])  # standing on the plate: its bottom is not an overhang
    assert geo.overhang_area(box, 45) == pytest.approx(0.0)
    step = trimesh.util.concatenate([box, trimesh.creation.box(extents=[10, 10, 5], transform=trimesh.transformations.translation_matrix([20, 0, 4]))])
    assert geo.overhang_area(step, 45) == pytest.approx(100.0)  # the raised box's underside
    tilted = trimesh.creation.box(extents=[10, 10, 5])
    tilted.apply_transform(trimesh.transformations.rotation_matrix(math.radians(40), [1, 0, 0]))
    tilted.apply_translation([0, 0, 10])
    assert geo.overhang_area(tilted, 45) == pytest.approx(100.0)  # 40° off horizontal: 50° from vertical


# ---- standard head -----------------------------------------------------------------------------


def test_ring_magnet_pocket_is_the_parameter_size():
    head = MESHES["head"]
    z = P["face_skin"] + P["ring_magnet_height"] / 2
    angles = [a for a in np.arange(0, 360, 7.5) if abs(math.sin(math.radians(a))) > 0.8]  # clear of the bores
    inner, outer = [], []
    for hits in ring_wall_hits(head, z, angles):
        # from inside the boss: leave the boss, cross the pocket, enter and leave the wall
        assert hits.size == 3, hits
        inner.append(hits[0])
        outer.append(hits[1])
    assert 2 * np.median(outer) == pytest.approx(P["ring_magnet_od"] + 2 * P["fit_clearance"], abs=0.03)
    assert 2 * np.median(inner) == pytest.approx(P["ring_magnet_id"] - 2 * P["fit_clearance"], abs=0.03)
    mid = (np.median(inner) + np.median(outer)) / 2
    skin = geo.ray_hits(head, [0, mid, -1], [0, 0, 1])
    assert skin[1] - skin[0] == pytest.approx(P["face_skin"], abs=0.01)
    # Open from the back down to the skin, and the centring boss is exactly one magnet tall.
    assert geo.first_surface_below(head, [0, mid]) == pytest.approx(P["face_skin"], abs=0.01)
    boss_top = geo.first_surface_below(head, [0, np.median(inner) - 0.4])
    assert boss_top - P["face_skin"] == pytest.approx(P["ring_magnet_height"], abs=0.01)


def test_led_and_phototransistor_bores_sit_side_by_side_behind_a_light_barrier():
    head = MESHES["head"]
    spans = geo.solid_spans(head, [-30, 0, OPTO_DEPTH / 2], [1, 0, 0])
    holes = [(spans[i][1] - 30, spans[i + 1][0] - 30) for i in range(len(spans) - 1)]
    bores = [h for h in holes if abs(abs((h[0] + h[1]) / 2) - P["opto_pitch"] / 2) < 0.5]
    assert len(bores) == 2, holes
    for start, end in bores:
        assert end - start == pytest.approx(2 * BORE_RADIUS, abs=0.02)
    centres = sorted((a + b) / 2 for a, b in bores)
    assert centres[1] - centres[0] == pytest.approx(P["opto_pitch"], abs=0.02)
    web = bores[1][0] - bores[0][1]
    assert web >= 1.5, "too little plastic between the bores to stop light inside the tower"

    # Above the tower, between the flanges: the rib, which is also what the board rests on.
    rib_z = OPTO_DEPTH + P["board_gap"] / 2
    rib = [s for s in geo.solid_spans(head, [-30, 0, rib_z], [1, 0, 0]) if s[0] - 30 < 0 < s[1] - 30]
    assert len(rib) == 1
    rib_width = rib[0][1] - rib[0][0]
    assert rib_width == pytest.approx(P["light_barrier_thickness"], abs=0.02)
    assert rib_width / 2 + P["opto_flange_diameter"] / 2 < P["opto_pitch"] / 2, "flanges do not fit beside the rib"
    board_rest = geo.first_surface_below(head, [0, 0])
    assert board_rest == pytest.approx(OPTO_DEPTH + P["board_gap"], abs=0.01)

    # The flange rests on the tower top: the LED's tip then ends opto_recess behind the face.
    seat = geo.first_surface_below(head, [centres[0], BORE_RADIUS + 0.5], from_z=board_rest - 0.1)
    assert seat - P["opto_seat_to_tip"] == pytest.approx(P["opto_recess"], abs=0.01)


def test_cable_leaves_pointing_down_with_the_optics_horizontal():
    head = MESHES["head"]
    z = P["head_height"] - P["lid_spigot_height"] - P["cable_diameter"] / 2  # cable centre
    open_angles = [a for a in np.arange(0, 360, 1.0) if geo.ray_hits(head, [0, 0, z], geo.horizontal(a)).size == 0]
    assert open_angles, "no cable exit found"
    direction = math.degrees(math.atan2(np.mean(np.sin(np.radians(open_angles))), np.mean(np.cos(np.radians(open_angles)))))
    assert direction == pytest.approx(P["cable_angle"], abs=1.0)
    assert direction == pytest.approx(-90, abs=1.0), "the standard wants the cable pointing down"
    # bores were measured on the x axis: horizontal when the cable hangs down

    wall_y = -(CAVITY_RADIUS + HEAD_RADIUS) / 2
    notch = geo.solid_spans(head, [-30, wall_y, z], [1, 0, 0])
    assert len(notch) == 2
    assert notch[1][0] - notch[0][1] == pytest.approx(P["cable_diameter"], abs=0.02)
    bottom = geo.first_surface_below(head, [0, wall_y])
    assert P["head_height"] - bottom == pytest.approx(P["lid_spigot_height"] + P["cable_diameter"], abs=0.01)
    assert bottom >= OPTO_DEPTH + P["board_gap"] + P["board_thickness"], "cable would enter below the board"


def test_board_fits_the_cavity_with_room_for_its_parts():
    head = MESHES["head"]
    board_z = OPTO_DEPTH + P["board_gap"] + P["board_thickness"] / 2
    first = [hits[0] for hits in ring_wall_hits(head, board_z, np.arange(0, 360, 5.0) + 2.5) if hits.size]
    assert 2 * min(first) > P["board_width"] * math.sqrt(2) + 0.5
    assert P["head_height"] - (OPTO_DEPTH + P["board_gap"] + P["board_thickness"]) >= P["component_height"]


def lid_fit():
    """Head bore and notch against lid spigot and key, each measured on its own mesh."""
    head, lid = MESHES["head"], MESHES["lid"]
    spigot_z = P["lid_thickness"] + P["lid_spigot_height"] / 2
    bore_z = P["head_height"] - P["lid_spigot_height"] / 2
    angles = [a for a in np.arange(0, 360, 5.0) + 2.5 if abs(a - (P["cable_angle"] % 360)) > 30]
    bore = np.median([h[0] for h in ring_wall_hits(head, bore_z, angles)])
    spigot = np.median([h[1] for h in ring_wall_hits(lid, spigot_z, angles)])
    wall_y = -(CAVITY_RADIUS + HEAD_RADIUS) / 2
    notch = geo.solid_spans(head, [-30, wall_y, bore_z], [1, 0, 0])
    key = geo.solid_spans(lid, [-30, wall_y, spigot_z], [1, 0, 0])
    assert len(notch) == 2 and len(key) == 1
    return bore, spigot, notch[1][0] - notch[0][1], key[0][1] - key[0][0]


def test_lid_plugs_into_the_head_with_a_sliding_fit():
    bore, spigot, notch_width, key_width = lid_fit()
    assert 0.1 <= bore - spigot <= 0.35, f"spigot clearance {bore - spigot:.3f} mm per side"
    assert bore - spigot == pytest.approx(P["lid_clearance"], abs=0.02)
    assert 0.1 <= (notch_width - key_width) / 2 <= 0.35, f"key clearance {(notch_width - key_width) / 2:.3f} mm"
    head, lid = MESHES["head"], MESHES["lid"]
    assert np.allclose(lid.bounds[:, :2], head.bounds[:, :2], atol=0.01), "lid and head outlines differ"
    key_height = geo.first_surface_below(lid, [0, -(CAVITY_RADIUS + HEAD_RADIUS) / 2]) - P["lid_thickness"]
    notch_depth = P["head_height"] - geo.first_surface_below(head, [0, -(CAVITY_RADIUS + HEAD_RADIUS) / 2])
    assert notch_depth - key_height == pytest.approx(P["cable_diameter"], abs=0.02), "key must leave the cable its room"


def test_wake_coil_pocket_sits_beside_the_ring_magnet():
    head = MESHES["head-coil"]
    centre = geo.polar(CAVITY_RADIUS + P["head_coil_wall"] + COIL_RADIUS, P["head_coil_angle"])
    radii = geo.radii_from(head, centre, P["face_skin"] + 1)
    assert radii.max() - radii.min() < 0.05, "coil pocket is not round about its parameter position"
    assert np.median(radii) == pytest.approx(COIL_RADIUS, abs=0.03)
    assert geo.first_surface_below(head, centre) == pytest.approx(P["face_skin"], abs=0.01)
    lobe_wall = centre + geo.polar(COIL_RADIUS + 0.8, P["head_coil_angle"])
    assert geo.first_surface_below(head, lobe_wall) - P["face_skin"] == pytest.approx(P["wake_coil_height"], abs=0.01)
    # and the ring magnet pocket is still there
    mid = (P["ring_magnet_od"] + P["ring_magnet_id"]) / 4
    assert geo.first_surface_below(head, [0, -mid]) == pytest.approx(P["face_skin"], abs=0.01)


# ---- Kamstrup clip -----------------------------------------------------------------------------


def test_clip_collar_fits_the_stated_rim_diameter():
    clip = MESHES["clip"]
    z = OPTO_DEPTH + P["collar_height"] / 2  # below the pod: only the collar is there
    angles = np.arange(0, 360, 1.0) + 0.5
    hits = ring_wall_hits(clip, z, angles)
    inner = np.array([h[0] for h in hits if h.size])
    covered = sum(1 for h in hits if h.size)
    assert covered == pytest.approx(P["collar_arc"], abs=2), "collar wraps a different arc"
    assert covered > 180, "a collar of half a turn or less slides off sideways"
    clearance = np.median(inner) - RIM_RADIUS
    assert 0.1 <= clearance <= 0.5, f"collar clearance {clearance:.3f} mm per side"
    assert clearance == pytest.approx(P["rim_clearance"], abs=0.03)


def test_clip_rests_on_the_rim_and_the_rim_collides_with_nothing():
    clip = MESHES["clip"]
    # The rim's top meets the pod's seat face where the collar begins.
    assert geo.first_surface_below(clip, [0, RIM_RADIUS - 1]) == pytest.approx(OPTO_DEPTH, abs=0.01)
    # A rim of the stated diameter, from the seat to the collar's end, is free of plastic.
    angles = np.radians(np.arange(0, 360, 3.0) + 1.1)
    heights = np.linspace(OPTO_DEPTH + 0.05, OPTO_DEPTH + P["collar_height"] - 0.05, 5)
    points = [[(RIM_RADIUS - 0.02) * math.cos(a), (RIM_RADIUS - 0.02) * math.sin(a), z] for a in angles for z in heights]
    assert not geo.is_inside(clip, points).any()
    assert geo.is_inside(clip, [[0, RIM_RADIUS - 1, OPTO_DEPTH - 0.05]]).all()


def test_clip_places_led_and_phototransistor_over_the_eye():
    clip = MESHES["clip"]
    z = OPTO_DEPTH / 2
    for side in (-1, 1):
        centre = EYE + [side * P["opto_pitch"] / 2, 0]
        radii = geo.radii_from(clip, centre, z)
        assert radii.max() - radii.min() < 0.05, "bore is not round about its parameter position"
        assert np.median(radii) == pytest.approx(BORE_RADIUS, abs=0.02)
        assert geo.first_surface_below(clip, centre) is None, "bore must go through"
    spans = geo.solid_spans(clip, [-60, EYE[1], z], [1, 0, 0])
    web = [s for s in spans if s[0] - 60 < 0 < s[1] - 60]
    assert len(web) == 1 and web[0][1] - web[0][0] >= 1.5, "light barrier between the bores too thin"


def test_clip_magnet_hole_is_a_push_through_press_fit_over_the_rim():
    clip = MESHES["clip"]
    centre = along_rim(P["clip_magnet_arc"], P["clip_magnet_inset"])
    radii = geo.radii_from(clip, centre, OPTO_DEPTH / 2)
    assert radii.max() - radii.min() < 0.05
    assert 2 * np.median(radii) == pytest.approx(P["clip_magnet_diameter"] + 2 * P["clip_magnet_fit"], abs=0.03)
    assert geo.first_surface_below(clip, centre) is None, "the magnet must be pushable through to turn it over"
    assert np.linalg.norm(centre) + np.median(radii) < RIM_RADIUS, "magnet must sit over the rim, inside its edge"
    assert OPTO_DEPTH >= P["clip_magnet_height"]


def test_clip_coil_pocket_beside_or_instead_of_the_magnet():
    magnet = along_rim(P["clip_magnet_arc"], P["clip_magnet_inset"])
    beside = along_rim(P["clip_coil_arc"], P["clip_coil_inset"])
    instead = along_rim(-P["clip_coil_arc"], P["clip_coil_inset"])
    both, coil_only = MESHES["clip"], MESHES["clip-coil-only"]
    for mesh, centre in ((both, beside), (coil_only, instead)):
        radii = geo.radii_from(mesh, centre, OPTO_DEPTH / 2)
        assert radii.max() - radii.min() < 0.05
        assert np.median(radii) == pytest.approx(COIL_RADIUS, abs=0.03)
        assert np.linalg.norm(centre) + COIL_RADIUS < RIM_RADIUS
    # "instead": no coil on the far side, and no magnet-sized hole left where the magnet was
    assert geo.first_surface_below(coil_only, beside) == pytest.approx(OPTO_DEPTH, abs=0.01)
    radii = geo.radii_from(coil_only, magnet, OPTO_DEPTH / 2)
    assert radii.max() - radii.min() > 0.5, "a round hole is still centred on the magnet position"


def test_clip_carries_its_orientation_arrow():
    clip = MESHES["clip"]
    groove_depth = (P["label_stroke"] / 2) / math.tan(math.radians(P["label_wall_deg"]))
    shaft = [0, (RIM_RADIUS - 0.8 + EYE[1] + BORE_RADIUS + 1.2) / 2]
    from_plate = geo.ray_hits(clip, [shaft[0], shaft[1], -1], [0, 0, 1])[0] - 1
    assert from_plate == pytest.approx(groove_depth, abs=0.02), "no V-groove under the arrow's shaft"
    beside_shaft = geo.ray_hits(clip, [shaft[0] + 1.5, shaft[1], -1], [0, 0, 1])[0] - 1
    assert beside_shaft == pytest.approx(0, abs=1e-4)
