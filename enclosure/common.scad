// Sizes derived from params.scad that more than one part needs.
include <params.scad>

// Circles that tests measure get a fixed, even number of sides, so a ray along a diameter
// meets two vertices and reads the nominal size.
fn_large = 120;
fn_small = 48;

bore_diameter = opto_diameter + 2 * opto_bore_clearance;
// The LED sits flange-down on this depth of plastic, so its tip ends opto_recess behind the face.
opto_depth = opto_seat_to_tip + opto_recess;

head_radius = head_diameter / 2;
// The ring magnet's pocket is the lower end of the board cavity: one bore, no step to print.
cavity_radius = ring_magnet_od / 2 + fit_clearance;
magnet_boss_radius = ring_magnet_id / 2 - fit_clearance;
magnet_top = face_skin + ring_magnet_height;
board_bottom = opto_depth + board_gap;
cable_notch_bottom = head_height - lid_spigot_height - cable_diameter;

coil_pocket_radius = wake_coil_diameter / 2 + fit_clearance;

function polar(r, angle) = [r * cos(angle), r * sin(angle)];

// Standard head: the wake coil's pocket, beside the ring magnet's.
head_coil_centre = polar(cavity_radius + head_coil_wall + coil_pocket_radius, head_coil_angle);

// Kamstrup clip, in its print coordinates (x, y as seen from the meter side).
rim_radius = rim_diameter / 2;
collar_inner_radius = rim_radius + rim_clearance;
collar_outer_radius = collar_inner_radius + collar_wall;
collar_top = opto_depth + collar_height;  // pod and collar share the plate face; the collar goes on down the rim
eye_centre = [0, rim_radius - eye_inset];
led_centre = eye_centre + [led_side * opto_pitch / 2, 0];
receiver_centre = eye_centre - [led_side * opto_pitch / 2, 0];
magnet_hole_radius = clip_magnet_diameter / 2 + clip_magnet_fit;

function along_rim(arc, inset) = polar(rim_radius - inset, 90 - arc / rim_radius * 180 / PI);

magnet_centre = along_rim(clip_magnet_arc, clip_magnet_inset);
function coil_centre(wake) = along_rim(wake == "instead" ? -clip_coil_arc : clip_coil_arc, clip_coil_inset);

assert(opto_pitch - opto_flange_diameter >= light_barrier_thickness + 0.2,
       "light barrier does not fit between the LED and phototransistor flanges");
assert(magnet_top < opto_depth, "the optics tower must stand above the ring magnet");
assert(head_radius - cavity_radius >= 1.6, "head wall beside the ring magnet is too thin");
assert(board_width * sqrt(2) < 2 * cavity_radius, "the board's diagonal does not fit the cavity");
assert(head_height >= board_bottom + board_thickness + component_height, "no room above the board");
assert(cable_notch_bottom >= board_bottom + board_thickness, "the cable would enter below the board");
