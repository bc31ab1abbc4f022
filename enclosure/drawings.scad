// The builder's pictures: the exported parts with their components, the meters they sit on,
// labels with leader lines and dimension lines, all from params.scad.
//
// build.py writes a scene that includes this file and calls one picture module with the paths of
// the exported STL files, sets `view` (the camera's rotation, as in openscad --camera) with -D,
// and renders it with an orthographic camera. Every label and dimension is drawn flat in a plane
// facing that camera, in front of the scene, so it is never hidden and keeps its size; its
// anchor is the screen position of a 3D point, which is exact under an orthographic camera.
// Each one also echoes what it says, which is how build.py records the picture's annotations.
// Text uses labels.scad's stroke font, so the pictures do not depend on the fonts installed.
include <common.scad>
use <labels.scad>

view = [55, 0, 25];   // camera rotation; build.py sets it per picture

PART_COLOUR = "SteelBlue";
LED_COLOUR = "Orchid";
RECEIVER_COLOUR = "DimGray";
MAGNET_COLOUR = "Silver";
COIL_COLOUR = "Chocolate";
METER_COLOUR = "Gainsboro";
EYE_COLOUR = "#222222";
LABEL_COLOUR = "#1a1a1a";
DIMENSION_COLOUR = "#c0392b";
AXIS_COLOUR = "#888888";

// ---- the camera -------------------------------------------------------------------------------

function rot_x(a) = [[1, 0, 0], [0, cos(a), -sin(a)], [0, sin(a), cos(a)]];
function rot_y(a) = [[cos(a), 0, sin(a)], [0, 1, 0], [-sin(a), 0, cos(a)]];
function rot_z(a) = [[cos(a), -sin(a), 0], [sin(a), cos(a), 0], [0, 0, 1]];
camera = rot_z(view[2]) * rot_y(view[1]) * rot_x(view[0]);  // what rotate(view) does
screen_right = [camera[0][0], camera[1][0], camera[2][0]];
screen_up = [camera[0][1], camera[1][1], camera[2][1]];
towards_viewer = [camera[0][2], camera[1][2], camera[2][2]];

function on_screen(p) = [p * screen_right, p * screen_up];
function nearness(p) = p * towards_viewer;
function unit(v) = v / norm(v);

// Everything in `points` stays behind the annotation plane; build.py frames the picture on
// these points and on the annotations (both echoed).
module scene_extent(points) {
    echo(screen_axes = [screen_right, screen_up]);
    echo(extent = [for (p = points) on_screen(p)]);
}

// Annotations inside draw in a plane facing the camera, in front of every point in `points`.
module annotation_plane(points) {
    $annotation_front = max([for (p = points) nearness(p)]) + 2;
    children();
}

// 2D children onto the annotation plane, in one colour (linear_extrude drops colours inside it).
module flat(colour) {
    color(colour) rotate(view) translate([0, 0, $annotation_front]) linear_extrude(height = 0.01) children();
}

// ---- 2D drawing primitives (screen coordinates, mm) -----------------------------------------------

module stroke(a, b, width) {
    hull() for (p = [a, b]) translate(p) circle(d = width, $fn = 12);
}

module arrow_head(tip, towards, size) {
    along = unit(towards - tip);
    across = [-along[1], along[0]];
    polygon([tip, tip + along * size + across * size * 0.3, tip + along * size - across * size * 0.3]);
}

module drawn_text(s, at, cap, width, halign) {
    unit = cap / 6;
    length = (text_advance(s) - 1.5) * unit;  // the last glyph's spacing is not part of the text
    start = halign == "left" ? 0 : halign == "right" ? -length : -length / 2;
    translate(at + [start, -cap / 2])
        for (i = [0 : len(s) - 1])
            translate([advance_before(s, i) * unit, 0])
                for (line = glyph(s[i]))
                    for (k = [0 : len(line) - 2]) stroke(line[k] * unit, line[k + 1] * unit, width);
}

function text_length(s, cap) = (text_advance(s) - 1.5) * cap / 6;

// ---- annotations --------------------------------------------------------------------------------
// `ink` scales every stroke and letter: one picture's scene may be 40 mm wide, another 120 mm.

// A label: a dot on `anchor` (3D), a leader to `offset` (screen mm from the anchor), the text
// beyond it. `lines` are further lines of text under the first. `params` name the params.scad
// values the text shows.
module label(anchor, offset, lines, params, ink) {
    cap = 2.2 * ink;
    a = on_screen(anchor);
    elbow = a + offset;
    side = offset[0] >= 0 ? 1 : -1;
    shoulder = elbow + [side * 1.5 * ink, 0];
    text_at = shoulder + [side * 0.8 * ink, 0];
    echo(annotation = ["label", lines, params, a, [for (i = [0 : len(lines) - 1]) text_box(lines[i], text_at - [0, i * 1.6 * cap], cap, side)]]);
    flat(LABEL_COLOUR) {
        translate(a) circle(r = 0.45 * ink, $fn = 16);
        stroke(a, elbow, 0.22 * ink);
        stroke(elbow, shoulder, 0.22 * ink);
        for (i = [0 : len(lines) - 1])
            drawn_text(lines[i], text_at - [0, i * 1.6 * cap], cap, 0.3 * ink, side > 0 ? "left" : "right");
    }
}

// [low corner, high corner] of a line of text starting (side 1) or ending (side -1) at `at`
function text_box(s, at, cap, side) =
    let (length = text_length(s, cap))
    side > 0 ? [at - [0, cap / 2], at + [length, cap / 2]] : [at - [length, cap / 2], at + [0, cap / 2]];

// A dimension between two 3D points: extension lines, a line with arrows `offset` mm to the side
// (positive: to the left of a -> b on screen), and `value` (with `prefix`, e.g. "Ø") written
// level beside its middle. `params` name what the value is computed from.
module dimension(a, b, offset, value, params, ink, prefix = "") {
    cap = 2.2 * ink;
    text = str(prefix, value);
    pa = on_screen(a);
    pb = on_screen(b);
    along = unit(pb - pa);
    normal = [-along[1], along[0]] * (offset >= 0 ? 1 : -1);
    da = pa + normal * abs(offset);
    db = pb + normal * abs(offset);
    length = text_length(text, cap);
    clear = abs(normal[0]) * length / 2 + abs(normal[1]) * cap / 2 + 0.8 * ink;
    centre = (da + db) / 2 + normal * clear;
    echo(annotation = ["dimension", text, params, value, [pa, pb], [centre - [length / 2, cap / 2], centre + [length / 2, cap / 2]]]);
    flat(DIMENSION_COLOUR) {
        for (ends = [[pa, da], [pb, db]])
            stroke(ends[0] + normal * 0.6 * ink, ends[1] + normal * 1.0 * ink, 0.16 * ink);
        stroke(da, db, 0.2 * ink);
        arrow_head(da, db, 1.4 * ink);
        arrow_head(db, da, 1.4 * ink);
        drawn_text(text, centre, cap, 0.3 * ink, "center");
    }
}

// ---- components (tip or face at the origin, body along +z) ---------------------------------------

// A 5 mm LED or phototransistor, dome down: the dome's tip at the origin, the flange's underside
// at opto_seat_to_tip, legs cut short.
module opto(colour) {
    radius = opto_diameter / 2;
    color(colour) {
        translate([0, 0, radius]) sphere(r = radius, $fn = 32);
        translate([0, 0, radius]) cylinder(r = radius, h = opto_seat_to_tip - radius, $fn = 32);
        translate([0, 0, opto_seat_to_tip]) cylinder(d = opto_flange_diameter, h = 1, $fn = 32);
    }
    color("DarkGray") for (side = [-1, 1])
        translate([side * 1.27 - 0.25, -0.25, opto_seat_to_tip + 1]) cube([0.5, 0.5, 8]);
}

module ring_magnet() {
    color(MAGNET_COLOUR) difference() {
        cylinder(d = ring_magnet_od, h = ring_magnet_height, $fn = fn_large);
        translate([0, 0, -1]) cylinder(d = ring_magnet_id, h = ring_magnet_height + 2, $fn = fn_large);
    }
}

module disc_magnet() {
    color(MAGNET_COLOUR) cylinder(d = clip_magnet_diameter, h = clip_magnet_height, $fn = fn_small);
}

module wake_coil() {
    color(COIL_COLOUR) cylinder(d = wake_coil_diameter, h = wake_coil_height, $fn = fn_small);
    color("DarkGray") for (side = [-1, 1])
        translate([side * 1.5 - 0.3, -0.3, wake_coil_height]) cube([0.6, 0.6, 5]);
}

// A dashed line along which a part goes in.
module assembly_axis(from, to) {
    steps = floor(norm(to - from) / 2);
    color(AXIS_COLOUR) for (i = [0 : 2 : steps - 1])
        hull() for (t = [i, i + 1]) translate(from + (to - from) * t / steps) sphere(r = 0.15, $fn = 6);
}

// ---- meters -----------------------------------------------------------------------------------

// Multical 21 / flowIQ: the rim's top at z = 0, the window inside it meter_face_depth lower, the
// eye a shallow dark disc at eye_inset from the rim's edge (+y), as the clip's print coordinates
// have it.
meter_eye_centre = [0, rim_radius - eye_inset];
meter_eye_depth = 0.4;

module multical21_model() {
    difference() {
        translate([0, 0, -meter_body_height]) cylinder(r = rim_radius, h = meter_body_height, $fn = fn_large * 3);
        translate([0, 0, -meter_face_depth]) cylinder(r = rim_radius - meter_rim_width, h = meter_face_depth + 1, $fn = fn_large * 3);
        translate([meter_eye_centre[0], meter_eye_centre[1], -meter_face_depth - meter_eye_depth])
            cylinder(d = meter_eye_diameter, h = meter_eye_depth + 0.01, $fn = fn_small);
    }
}

// The clip as it sits on the meter: turned over, its seat on the rim's top (z = 0). Print
// coordinates (x, y, z) of the clip end up at (-x, y, opto_depth - z).
function clip_on_meter(p) = [-p[0], p[1], opto_depth - p[2]];

module clip_placed_on_meter() {
    translate([0, 0, opto_depth]) rotate([0, 180, 0]) children();
}

// An IEC 62056-21 meter's face, upright in the x-z plane facing -y, with the optical port's steel
// ring centred on the origin.
module iec_meter_face() {
    color(METER_COLOUR) translate([-iec_face_size[0] / 2, 0, -iec_face_size[1] * 0.6]) cube([iec_face_size[0], 6, iec_face_size[1]]);
    color("DarkGray") rotate([90, 0, 0]) difference() {
        cylinder(d = iec_port_ring_od, h = 0.6, $fn = fn_large);
        translate([0, 0, -1]) cylinder(d = iec_port_window, h = 3, $fn = fn_large);
    }
    color(EYE_COLOUR) rotate([90, 0, 0]) translate([0, 0, -0.01]) cylinder(d = iec_port_window, h = 0.3, $fn = fn_large);
}

// The head as it sits on the port: face on the ring, cable down. Print coordinates (x, y, z) of
// the head end up at (x, -z, y) (shifted off the ring by its thickness).
function head_on_port(p) = [p[0], -p[2] - 0.6, p[1]];

module head_placed_on_port() {
    translate([0, -0.6, 0]) rotate([90, 0, 0]) children();
}

// ---- the pictures -----------------------------------------------------------------------------

function opto_centres() = [[led_side * opto_pitch / 2, 0], [-led_side * opto_pitch / 2, 0]];

// The head (with the coil lobe), its parts lifted out along the axes they go in by.
module head_assembly(head_stl) {
    ink = 1.1;
    lift = head_height + 6;
    magnet_at = [0, 0, lift];
    opto_at = lift + ring_magnet_height + 9;
    coil_at = [head_coil_centre[0], head_coil_centre[1], lift + ring_magnet_height + 1];
    led = [opto_centres()[0][0], 0, opto_at];
    receiver = [opto_centres()[1][0], 0, opto_at];
    color(PART_COLOUR) import(head_stl, convexity = 10);
    translate(magnet_at) ring_magnet();
    translate(led) opto(LED_COLOUR);
    translate(receiver) opto(RECEIVER_COLOUR);
    translate(coil_at) wake_coil();
    for (c = opto_centres()) assembly_axis([c[0], 0, opto_recess], [c[0], 0, opto_at]);
    assembly_axis([head_coil_centre[0], head_coil_centre[1], face_skin], coil_at);
    extent = [for (x = [-1, 1], y = [-1, 1], z = [0, opto_at + opto_seat_to_tip + 9])
              [x * head_radius, y * (norm(head_coil_centre) + coil_pocket_radius + 1.6), z]];
    scene_extent(extent);
    annotation_plane(extent) {
        label(led + [0, 0, opto_seat_to_tip * 0.4], [-15, 3], ["IR LED (D1)", str("5 MM, Ø", opto_diameter)], ["opto_diameter"], ink);
        label(receiver + [0, 0, opto_seat_to_tip * 0.4], [16, -12], ["PHOTOTRANSISTOR (Q2)", str("5 MM, Ø", opto_diameter)], ["opto_diameter"], ink);
        label(magnet_at + [-ring_magnet_od / 2, 0, ring_magnet_height / 2], [-8, -6],
              ["RING MAGNET", str(ring_magnet_od, " × ", ring_magnet_id, " × ", ring_magnet_height)],
              ["ring_magnet_od", "ring_magnet_id", "ring_magnet_height"], ink);
        label(coil_at + [0, wake_coil_diameter / 2, wake_coil_height * 0.6], [12, 3],
              ["WAKE COIL", str("Ø", wake_coil_diameter, " × ", wake_coil_height), "(HEAD-COIL ONLY)"],
              ["wake_coil_diameter", "wake_coil_height"], ink);
        label([head_radius * cos(-60), head_radius * sin(-60), head_height * 0.6], [12, -6], ["HEAD, FACE DOWN"], [], ink);
    }
}

// The head cut through the LED and phototransistor, with its main sizes.
module head_dimensions(head_stl) {
    ink = 0.9;
    color(PART_COLOUR) render(convexity = 10) difference() {
        import(head_stl, convexity = 10);
        translate([-50, -100, -10]) cube([100, 100, 100]);
    }
    extent = [for (x = [-1, 1], y = [0, 1], z = [0, head_height]) [x * head_radius, y * head_radius, z]];
    scene_extent(extent);
    led_x = opto_centres()[0][0];
    receiver_x = opto_centres()[1][0];
    annotation_plane(extent) {
        dimension([-head_radius, 0, 0], [head_radius, 0, 0], -9, head_diameter, ["head_diameter"], ink, "Ø");
        dimension([head_radius, 0, 0], [head_radius, 0, head_height], -5, head_height, ["head_height"], ink);
        dimension([led_x, 0, 0], [receiver_x, 0, 0], -3.5, opto_pitch, ["opto_pitch"], ink);
        dimension([-cavity_radius, 0, head_height], [cavity_radius, 0, head_height], 4, 2 * cavity_radius,
                  ["ring_magnet_od", "fit_clearance"], ink, "Ø");
        dimension([-head_radius, 0, face_skin], [-head_radius, 0, magnet_top], 4, ring_magnet_height,
                  ["ring_magnet_height"], ink);
        label([led_x, 0, opto_depth * 0.6], [-19, 12], ["LED BORE"], [], ink);
        label([receiver_x, 0, opto_depth * 0.6], [19, 17], ["PHOTOTRANSISTOR BORE"], [], ink);
        label([-(cavity_radius + magnet_boss_radius) / 2, 0, face_skin + ring_magnet_height / 2], [-16, -9],
              ["MAGNET POCKET"], [], ink);
        label([head_radius * 0.55, 0, 0], [9, -12], [str("FACE, ", face_skin, " SKIN")], ["face_skin"], ink);
    }
}

// The clip as it sits on the meter, its parts lifted out along the axes they go in by: LED and
// phototransistor from the top, magnet and coil from the meter side.
module clip_assembly(clip_stl) {
    ink = 1.25;
    led = clip_on_meter([led_centre[0], led_centre[1], 0]);
    receiver = clip_on_meter([receiver_centre[0], receiver_centre[1], 0]);
    magnet = clip_on_meter([magnet_centre[0], magnet_centre[1], opto_depth]);
    coil = clip_on_meter([coil_centre(clip_wake_coil)[0], coil_centre(clip_wake_coil)[1], opto_depth]);
    up = 14;
    down = 16;
    clip_placed_on_meter() color(PART_COLOUR) import(clip_stl, convexity = 10);
    for (c = [[led, LED_COLOUR], [receiver, RECEIVER_COLOUR]]) {
        translate([c[0][0], c[0][1], opto_recess + up]) opto(c[1]);
        assembly_axis([c[0][0], c[0][1], opto_depth], [c[0][0], c[0][1], opto_recess + up]);
    }
    translate(magnet - [0, 0, down]) disc_magnet();
    assembly_axis(magnet - [0, 0, down - clip_magnet_height], magnet);
    if (clip_wake_coil != "none") {
        translate(coil - [0, 0, down + wake_coil_height]) wake_coil();
        assembly_axis(coil - [0, 0, down], coil);
    }
    extent = [for (x = [-1, 1], y = [-1, 1], z = [-down - wake_coil_height, -collar_height, opto_depth, up + opto_seat_to_tip + 9])
              [x * collar_outer_radius, y * collar_outer_radius, z]];
    scene_extent(extent);
    annotation_plane(extent) {
        label([led[0], led[1], up + opto_seat_to_tip / 2], [-14, 6], ["IR LED (D1)", "INTO BORE T"], [], ink);
        label([receiver[0], receiver[1], up + opto_seat_to_tip / 2], [14, 6], ["PHOTOTRANSISTOR (Q2)", "INTO BORE R"], [], ink);
        label(magnet - [0, 0, down - clip_magnet_height / 2], [-16, -8],
              [str("MAGNET Ø", clip_magnet_diameter, " × ", clip_magnet_height), "FROM BELOW"],
              ["clip_magnet_diameter", "clip_magnet_height"], ink);
        if (clip_wake_coil != "none")
            label(coil - [0, 0, down + wake_coil_height / 2], [16, -6],
                  [str("WAKE COIL Ø", wake_coil_diameter, " × ", wake_coil_height), "FROM BELOW"],
                  ["wake_coil_diameter", "wake_coil_height"], ink);
    }
}

// The clip from above as it sits on the meter (arrow up), with the sizes that place it.
module clip_dimensions(clip_stl) {
    ink = 1.3;
    clip_placed_on_meter() color(PART_COLOUR) import(clip_stl, convexity = 10);
    eye = clip_on_meter([eye_centre[0], eye_centre[1], 0]);
    led = clip_on_meter([led_centre[0], led_centre[1], 0]);
    receiver = clip_on_meter([receiver_centre[0], receiver_centre[1], 0]);
    rim_edge = [0, rim_radius, opto_depth];
    end = [collar_outer_radius * cos(90 + collar_arc / 2), collar_outer_radius * sin(90 + collar_arc / 2)];
    extent = [for (x = [-1, 1], y = [-1, 1], z = [-collar_height, opto_depth]) [x * collar_outer_radius, y * collar_outer_radius, z]];
    scene_extent(extent);
    annotation_plane(extent) {
        dimension([-collar_inner_radius, 0, 0], [collar_inner_radius, 0, 0], 0, 2 * collar_inner_radius,
                  ["rim_diameter", "rim_clearance"], ink, "Ø");
        dimension(rim_edge, [eye[0], eye[1], opto_depth], -24, eye_inset, ["eye_inset"], ink);
        dimension([led[0], led[1], opto_depth], [receiver[0], receiver[1], opto_depth], 9, opto_pitch, ["opto_pitch"], ink);
        dimension([end[0], end[1], 0], [end[0], end[1], -collar_height], -5, collar_height, ["collar_height"], ink);
        label([collar_inner_radius * cos(200), collar_inner_radius * sin(200), 0], [8, 12],
              [str("FOR A RIM OF Ø", rim_diameter), "(UNCERTAIN: MEASURE)"], ["rim_diameter"], ink);
        label(clip_on_meter([magnet_centre[0], magnet_centre[1], 0]), [-16, 14], ["MAGNET"], [], ink);
        if (clip_wake_coil != "none")
            label(clip_on_meter([coil_centre(clip_wake_coil)[0], coil_centre(clip_wake_coil)[1], 0]), [16, 30], ["WAKE COIL"], [], ink);
        label([0, rim_radius - 3, opto_depth], [-22, -6], ["ARROW: TO THE EYE"], [], ink);
    }
}

// The clip on a Multical 21 / flowIQ.
module clip_on_multical21(clip_stl) {
    ink = 1.5;
    color(METER_COLOUR) render(convexity = 4) multical21_model();
    color(EYE_COLOUR) translate([meter_eye_centre[0], meter_eye_centre[1], -meter_face_depth - meter_eye_depth])
        cylinder(d = meter_eye_diameter, h = 0.02, $fn = fn_small);
    clip_placed_on_meter() color(PART_COLOUR) import(clip_stl, convexity = 10);
    extent = [for (x = [-1, 1], y = [-1, 1], z = [-meter_body_height, opto_depth]) [x * collar_outer_radius, y * collar_outer_radius, z]];
    scene_extent(extent);
    annotation_plane(extent) {
        label([meter_eye_centre[0], meter_eye_centre[1], 0], [-30, -12], ["OPTICAL EYE", "UNDER THE POD"], ["eye_inset"], ink);
        label([0, rim_radius - eye_inset - 3, opto_depth], [-30, 8], ["ARROW POINTS", "AT THE EYE"], [], ink);
        label([rim_radius * cos(-60), rim_radius * sin(-60), 0], [18, 8], [str("METER RIM Ø", rim_diameter), "(UNCERTAIN)"], ["rim_diameter"], ink);
        label([collar_outer_radius * cos(200), collar_outer_radius * sin(200), -collar_height / 2], [8, -8], ["COLLAR HUGS", "THE RIM"], [], ink);
        label([rim_radius * cos(110), rim_radius * sin(110), -meter_body_height * 0.65], [24, -8], ["MULTICAL 21 / FLOWIQ", "(SIMPLE MODEL)"], [], ink);
    }
}

// The standard head on an IEC 62056-21 meter's optical port.
module head_on_iec_meter(head_stl, lid_stl) {
    ink = 1.45;
    iec_meter_face();
    head_placed_on_port() {
        color(PART_COLOUR) import(head_stl, convexity = 10);
        color("LightSteelBlue") translate([0, 0, head_height + lid_thickness]) rotate([0, 180, 0]) import(lid_stl, convexity = 10);
    }
    notch = head_on_port([0, -head_radius, cable_notch_bottom + cable_diameter / 2]);
    cable_end = -iec_face_size[1] * 0.55;
    color("#333333") hull() for (z = [notch[2] + 2, cable_end])
        translate([notch[0], notch[1], z]) sphere(d = cable_diameter, $fn = 16);
    led = head_on_port([opto_centres()[0][0], 0, 0]);
    receiver = head_on_port([opto_centres()[1][0], 0, 0]);
    extent = [for (x = [-1, 1], y = [0, 1], z = [-0.6, 0.4]) [x * iec_face_size[0] / 2, -y * (head_height + lid_thickness + 1), z * iec_face_size[1]]];
    scene_extent(extent);
    annotation_plane(extent) {
        label(led, [-30, 20], ["IR LED: LEFT", "(SEEN FROM THE FRONT)"], [], ink);
        label(receiver, [36, -14], ["PHOTOTRANSISTOR: RIGHT"], [], ink);
        label(head_on_port([head_radius * cos(30), head_radius * sin(30), head_height * 0.5]), [22, 14], ["HEAD: ITS MAGNET HOLDS", "ON THE STEEL RING"], [], ink);
        label([iec_port_ring_od / 2 * cos(-60), 0, iec_port_ring_od / 2 * sin(-60)], [32, -16], ["OPTICAL PORT", "(STEEL RING)"], [], ink);
        label([notch[0], notch[1], cable_end * 0.7], [-18, -2], ["CABLE HANGS DOWN"], [], ink);
        label([iec_face_size[0] * 0.3, 0, iec_face_size[1] * 0.3], [10, 6], ["METER FACE"], [], ink);
    }
}
