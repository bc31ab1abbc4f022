// V-carved labels drawn with our own stroke font.
//
// Why not text(): OpenSCAD renders text() with whatever fonts the machine has, so the exported
// STL would differ between a laptop and CI. Why V-grooves: a groove cut into the build-plate
// face has a roof, and a flat roof is an overhang; a V whose walls lean label_wall_deg from
// vertical needs no support. Glyphs sit on a 4 x 6 grid, y up, stroke centre lines.

// [character, advance, strokes]. The carved labels use the first block; changing a glyph there
// changes the clip's STL. The rest serve the drawings (drawings.scad), capitals only.
O_RING = [[1, 0], [0, 1], [0, 5], [1, 6], [3, 6], [4, 5], [4, 1], [3, 0], [1, 0]];
GLYPHS = [
    ["T", 5.5, [[[0, 6], [4, 6]], [[2, 6], [2, 0]]]],
    ["U", 5.5, [[[0, 6], [0, 1], [1, 0], [3, 0], [4, 1], [4, 6]]]],
    ["R", 5.5, [[[0, 0], [0, 6], [3, 6], [4, 5], [4, 4], [3, 3], [0, 3]], [[2, 3], [4, 0]]]],
    ["N", 5.5, [[[0, 0], [0, 6], [4, 0], [4, 6]]]],
    ["1", 5.5, [[[1, 5], [2, 6], [2, 0]], [[1, 0], [3, 0]]]],
    ["8", 5.5, [[[2, 3], [0.5, 4.5], [2, 6], [3.5, 4.5], [2, 3], [0, 1.5], [2, 0], [4, 1.5], [2, 3]]]],
    ["0", 5.5, [[[2, 0], [0, 1.5], [0, 4.5], [2, 6], [4, 4.5], [4, 1.5], [2, 0]]]],
    ["°", 3, [[[0.6, 5.2], [1.3, 5.9], [2, 5.2], [1.3, 4.5], [0.6, 5.2]]]],
    ["I", 5.5, [[[2, 0], [2, 6]], [[1, 0], [3, 0]], [[1, 6], [3, 6]]]],
    ["F", 5.5, [[[0, 0], [0, 6], [4, 6]], [[0, 3], [3, 3]]]],
    ["S", 5.5, [[[4, 5], [3, 6], [1, 6], [0, 5], [0, 4], [4, 2], [4, 1], [3, 0], [1, 0], [0, 1]]]],
    ["L", 5.5, [[[0, 6], [0, 0], [4, 0]]]],
    ["E", 5.5, [[[4, 6], [0, 6], [0, 0], [4, 0]], [[0, 3], [3, 3]]]],
    [" ", 3, []],

    ["A", 5.5, [[[0, 0], [0, 4], [2, 6], [4, 4], [4, 0]], [[0, 2.5], [4, 2.5]]]],
    ["B", 5.5, [[[0, 0], [0, 6], [3, 6], [4, 5], [4, 4], [3, 3], [0, 3]], [[3, 3], [4, 2], [4, 1], [3, 0], [0, 0]]]],
    ["C", 5.5, [[[4, 5], [3, 6], [1, 6], [0, 5], [0, 1], [1, 0], [3, 0], [4, 1]]]],
    ["D", 5.5, [[[0, 0], [0, 6], [2.5, 6], [4, 4.5], [4, 1.5], [2.5, 0], [0, 0]]]],
    ["G", 5.5, [[[4, 5], [3, 6], [1, 6], [0, 5], [0, 1], [1, 0], [3, 0], [4, 1], [4, 3], [2.5, 3]]]],
    ["H", 5.5, [[[0, 0], [0, 6]], [[4, 0], [4, 6]], [[0, 3], [4, 3]]]],
    ["J", 5.5, [[[4, 6], [4, 1], [3, 0], [1, 0], [0, 1]]]],
    ["K", 5.5, [[[0, 0], [0, 6]], [[4, 6], [0, 2]], [[1.5, 3.5], [4, 0]]]],
    ["M", 6, [[[0, 0], [0, 6], [2, 3], [4, 6], [4, 0]]]],
    ["O", 5.5, [O_RING]],
    ["P", 5.5, [[[0, 0], [0, 6], [3, 6], [4, 5], [4, 4], [3, 3], [0, 3]]]],
    ["Q", 5.5, [O_RING, [[2.5, 1.5], [4, -0.5]]]],
    ["V", 5.5, [[[0, 6], [2, 0], [4, 6]]]],
    ["W", 6, [[[0, 6], [1, 0], [2, 4], [3, 0], [4, 6]]]],
    ["X", 5.5, [[[0, 0], [4, 6]], [[0, 6], [4, 0]]]],
    ["Y", 5.5, [[[0, 6], [2, 3], [4, 6]], [[2, 3], [2, 0]]]],
    ["Z", 5.5, [[[0, 6], [4, 6], [0, 0], [4, 0]]]],
    ["2", 5.5, [[[0, 5], [1, 6], [3, 6], [4, 5], [4, 4], [0, 0], [4, 0]]]],
    ["3", 5.5, [[[0, 5], [1, 6], [3, 6], [4, 5], [4, 4], [3, 3], [4, 2], [4, 1], [3, 0], [1, 0], [0, 1]], [[1.5, 3], [3, 3]]]],
    ["4", 5.5, [[[3, 0], [3, 6], [0, 2], [4, 2]]]],
    ["5", 5.5, [[[4, 6], [0, 6], [0, 3.5], [3, 3.5], [4, 2.5], [4, 1], [3, 0], [1, 0], [0, 1]]]],
    ["6", 5.5, [[[4, 5], [3, 6], [1, 6], [0, 5], [0, 1], [1, 0], [3, 0], [4, 1], [4, 2.5], [3, 3.5], [0, 3.5]]]],
    ["7", 5.5, [[[0, 6], [4, 6], [1.5, 0]]]],
    ["9", 5.5, [[[0, 1], [1, 0], [3, 0], [4, 1], [4, 5], [3, 6], [1, 6], [0, 5], [0, 3.5], [1, 2.5], [4, 2.5]]]],
    [".", 2.5, [[[0.5, 0], [0.5, 0.01]]]],
    [",", 2.5, [[[1, 0.3], [0.4, -1]]]],
    [":", 2.5, [[[0.5, 0.5], [0.5, 0.51]], [[0.5, 4], [0.5, 4.01]]]],
    ["-", 4.5, [[[0.5, 3], [3, 3]]]],
    ["+", 5, [[[2, 1.5], [2, 4.5]], [[0.5, 3], [3.5, 3]]]],
    ["/", 4.5, [[[0, -0.5], [3, 6.5]]]],
    ["(", 3.5, [[[2, 6.5], [0.8, 5], [0.8, 1], [2, -0.5]]]],
    [")", 3.5, [[[0.5, 6.5], [1.7, 5], [1.7, 1], [0.5, -0.5]]]],
    ["×", 5, [[[0.6, 1], [3.4, 3.8]], [[0.6, 3.8], [3.4, 1]]]],
    ["Ø", 5.5, [O_RING, [[-0.2, -0.5], [4.2, 6.5]]]],
];

function glyph_entry(c, i = 0) =
    i == len(GLYPHS) ? assert(false, str("labels.scad has no glyph for \"", c, "\": draw it in GLYPHS")) []
    : GLYPHS[i][0] == c ? GLYPHS[i] : glyph_entry(c, i + 1);

function glyph(c) = glyph_entry(c)[2];

function glyph_advance(c) = glyph_entry(c)[1];

function advance_before(s, i) = i == 0 ? 0 : advance_before(s, i - 1) + glyph_advance(s[i - 1]);

function text_advance(s) = advance_before(s, len(s));

// One groove: the hull of two cones, apex inside the part, base on the carved face (z = 0).
// `into` = +1 carves upwards from the build plate, -1 carves downwards from a top face.
module v_stroke(a, b, width, wall_deg, into) {
    depth = (width / 2) / tan(wall_deg);
    hull() for (p = [a, b])
        translate([p[0], p[1], 0])
            if (into > 0) translate([0, 0, -0.01]) cylinder(h = depth + 0.01, d1 = width, d2 = 0, $fn = 8);
            else translate([0, 0, -depth]) cylinder(h = depth + 0.01, d1 = 0, d2 = width, $fn = 8);
}

module v_polyline(points, width, wall_deg, into) {
    for (i = [0 : len(points) - 2])
        v_stroke(points[i], points[i + 1], width, wall_deg, into);
}

// A glyph with its baseline's left end at the origin, `cap` tall.
module v_glyph(c, cap, width, wall_deg, into) {
    unit = cap / 6;
    for (line = glyph(c))
        v_polyline([for (p = line) p * unit], width, wall_deg, into);
}

// Text along a circle of `radius`, centred on `angle`, read with the glyph tops outwards.
module v_text_arc(s, radius, angle, cap, width, wall_deg, into) {
    unit = cap / 6;
    total = text_advance(s) * unit;
    for (i = [0 : len(s) - 1]) {
        mid = (advance_before(s, i) + glyph_advance(s[i]) / 2) * unit - total / 2;
        rotate([0, 0, angle - mid / radius * 180 / PI])
            translate([radius, 0, 0]) rotate([0, 0, -90])
                translate([-glyph_advance(s[i]) * unit / 2, -cap / 2, 0])
                    v_glyph(s[i], cap, width, wall_deg, into);
    }
}

// An arrow from `tail` to `tip`, head drawn with two strokes.
module v_arrow(tail, tip, head, width, wall_deg, into) {
    along = (tip - tail) / norm(tip - tail);
    across = [-along[1], along[0]];
    v_stroke(tail, tip, width, wall_deg, into);
    for (side = [-1, 1])
        v_stroke(tip, tip - along * head + across * side * head * 0.7, width, wall_deg, into);
}
