// Lid of the standard head, printed outer face down. Its spigot plugs into the head's bore;
// the key fills the cable notch above the cable and clamps it.
include <common.scad>

lid();

spigot_radius = cavity_radius - lid_clearance;

module lid() {
    cylinder(r = head_radius, h = lid_thickness, $fn = fn_large);
    translate([0, 0, lid_thickness - 0.01]) {
        difference() {
            cylinder(r = spigot_radius, h = lid_spigot_height + 0.01, $fn = fn_large);
            translate([0, 0, -1])
                cylinder(r = spigot_radius - lid_spigot_wall, h = lid_spigot_height + 2, $fn = fn_large);
        }
        // Turned over onto the head the key may land anywhere: turn the lid until it drops in.
        intersection() {
            rotate([0, 0, cable_angle])
                translate([spigot_radius - lid_spigot_wall / 2, -(cable_diameter / 2 - lid_clearance), 0])
                    cube([head_radius, cable_diameter - 2 * lid_clearance, lid_spigot_height + 0.01]);
            cylinder(r = head_radius, h = lid_spigot_height + 0.01, $fn = fn_large);
        }
    }
}
