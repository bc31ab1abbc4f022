// Clip for Kamstrup Multical 21 / flowIQ, printed upside down: z = 0 is the face you see on
// the meter. The meter's eye is not the IEC one, and Kamstrup's own holder rests on the rim
// (esphome/feature-requests#1402), so this clip does the same: a collar hugs the rim, a pod
// reaches over the eye with the LED and phototransistor, and the magnet (or the wake coil)
// sits over the rim, where the magnet sensor is suspected.
//
// Everything rises from the build plate, so nothing needs support. The labels are V-carved
// into the plate face; they are mirrored there so they read right from above on the meter.
include <common.scad>
use <labels.scad>

clip(clip_wake_coil);

module clip(wake) {
    assert(wake == "none" || wake == "beside" || wake == "instead", "clip_wake_coil is none, beside or instead");
    has_magnet = wake != "instead";
    has_coil = wake != "none";
    difference() {
        union() {
            collar();
            pod(has_magnet, has_coil, wake);
        }
        for (c = [led_centre, receiver_centre])
            translate([c[0], c[1], -1]) cylinder(d = bore_diameter, h = collar_top, $fn = fn_small);
        if (has_magnet)
            translate([magnet_centre[0], magnet_centre[1], -1]) cylinder(r = magnet_hole_radius, h = collar_top, $fn = fn_small);
        if (has_coil) {
            c = coil_centre(wake);
            translate([c[0], c[1], -1]) cylinder(r = coil_pocket_radius, h = collar_top, $fn = fn_small);
        }
        labels();
    }
}

module collar() {
    rotate([0, 0, 90 - collar_arc / 2]) rotate_extrude(angle = collar_arc, $fn = fn_large * 3) {
        translate([collar_inner_radius, 0]) square([collar_wall, collar_top]);
        translate([collar_outer_radius - 0.01, 0]) square([label_flange_width + 0.01, label_flange_thickness]);
    }
}

// The pod is the hull of a wall around every hole it carries, reaching into the collar.
module pod(has_magnet, has_coil, wake) {
    intersection() {
        linear_extrude(height = opto_depth) hull() {
            for (c = [led_centre, receiver_centre]) translate(c) circle(r = bore_diameter / 2 + pod_wall, $fn = fn_small);
            if (has_magnet) translate(magnet_centre) circle(r = magnet_hole_radius + pod_wall, $fn = fn_small);
            if (has_coil) translate(coil_centre(wake)) circle(r = coil_pocket_radius + pod_wall, $fn = fn_small);
            for (arc = [-1, 1] * (clip_coil_arc + wake_coil_diameter))
                translate(along_rim(arc, -rim_clearance - collar_wall / 2)) circle(r = collar_wall / 2, $fn = fn_small);
        }
        cylinder(r = collar_outer_radius, h = opto_depth, $fn = fn_large * 3);
    }
}

module labels() {
    // Seen from above on the meter: an arrow from the rim to the eye, and the rule for a meter
    // that stays silent (the magnet is a press fit: push it out, turn it over, push it back).
    mirror([1, 0, 0]) {
        v_text_arc("TURN 180° IF SILENT", collar_outer_radius + label_flange_width / 2, 90,
                   label_height, label_stroke, label_wall_deg, 1);
        v_arrow([0, rim_radius - 0.8], [0, eye_centre[1] + bore_diameter / 2 + 1.2], 1.6,
                label_stroke, label_wall_deg, 1);
    }
    // On the meter side, for assembly: T beside the LED, R beside the phototransistor.
    for (mark = [["T", led_centre], ["R", receiver_centre]])
        translate([mark[1][0] - 1.1, mark[1][1] + bore_diameter / 2 + 0.7, opto_depth])
            v_glyph(mark[0], 2.4, label_stroke * 0.8, label_wall_deg, -1);
}
