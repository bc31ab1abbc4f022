// Standard IEC 62056-21 reading head, printed face down.
//
// From the face up: a 0.6 mm skin, the ring magnet around a boss that centres it, the LED
// and phototransistor standing side by side in a tower with a light barrier between their
// flanges, the board resting on that barrier, and a cable notch at the rim pointing down.
// The lid (lid.scad) plugs into the bore and its key clamps the cable in the notch.
include <common.scad>

head(head_wake_coil);

tower_half_width = opto_pitch / 2 + bore_diameter / 2 + 1.2;
tower_half_depth = bore_diameter / 2 + 1.2;
lobe_wall = 1.6;
lobe_top = face_skin + wake_coil_height;

module head(wake) {
    assert(wake == "none" || wake == "beside" || wake == "instead", "head_wake_coil is none, beside or instead");
    difference() {
        union() {
            difference() {
                union() {
                    cylinder(r = head_radius, h = head_height, $fn = fn_large);
                    if (wake != "none") coil_lobe();
                }
                // "instead" has no ring magnet: the face stays solid up to where the magnet would end.
                translate([0, 0, wake == "instead" ? magnet_top : face_skin])
                    cylinder(r = cavity_radius, h = head_height, $fn = fn_large);
            }
            optics_tower();
            light_barrier();
        }
        optics_bores();
        cable_notch();
        if (wake != "none") coil_pocket();
    }
}

// The boss is exactly as tall as the magnet and as wide as its hole; the tower above it stays
// inside the same circle, so the magnet slides down over it from the open back.
module optics_tower() {
    cylinder(r = magnet_boss_radius, h = magnet_top, $fn = fn_large);
    intersection() {
        translate([-tower_half_width, -tower_half_depth, 0])
            cube([2 * tower_half_width, 2 * tower_half_depth, opto_depth]);
        cylinder(r = magnet_boss_radius, h = opto_depth, $fn = fn_large);
    }
}

// Inside the tower the web between the bores blocks stray light; above it this rib keeps the
// LED's sideways glow off the phototransistor and carries the board.
module light_barrier() {
    translate([-light_barrier_thickness / 2, -tower_half_depth, opto_depth - 0.01])
        cube([light_barrier_thickness, 2 * tower_half_depth, board_gap + 0.01]);
}

module optics_bores() {
    for (side = [-1, 1])
        translate([side * opto_pitch / 2, 0, -1])
            cylinder(d = bore_diameter, h = opto_depth + 2, $fn = fn_small);
}

// A U-shaped notch from the rim: its round bottom faces up, so it prints without support.
module cable_notch() {
    rotate([0, 0, cable_angle]) hull() {
        translate([cavity_radius - 1, 0, cable_notch_bottom + cable_diameter / 2])
            rotate([0, 90, 0]) cylinder(d = cable_diameter, h = head_radius - cavity_radius + 2, $fn = fn_small);
        translate([cavity_radius - 1, -cable_diameter / 2, cable_notch_bottom + cable_diameter / 2])
            cube([head_radius - cavity_radius + 2, cable_diameter, head_height]);
    }
}

// The coil sits beside the ring magnet in a lobe of the wall, on the same 0.6 mm skin.
module coil_lobe() {
    hull() {
        translate(head_coil_centre) cylinder(r = coil_pocket_radius + lobe_wall, h = lobe_top, $fn = fn_large);
        translate(polar(head_radius - coil_pocket_radius - lobe_wall, head_coil_angle))
            cylinder(r = coil_pocket_radius + lobe_wall, h = lobe_top, $fn = fn_large);
    }
}

module coil_pocket() {
    translate([head_coil_centre[0], head_coil_centre[1], face_skin])
        cylinder(r = coil_pocket_radius, h = head_height, $fn = fn_small);
    // Wire slot into the cavity, open to the rim so it has no roof.
    rotate([0, 0, head_coil_angle])
        translate([cavity_radius - 1, -1, lobe_top - 3])
            cube([norm(head_coil_centre) - cavity_radius + 1, 2, head_height]);
}
