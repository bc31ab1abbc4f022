// metereye reading head: every dimension of head.scad, lid.scad and clip.scad.
//
// One `name = literal;` per line: build.py and the tests read this file too, so keep
// values literal (number, "string", true/false, [list]); derived sizes live in the parts.
// Lengths in mm, angles in degrees. Part coordinates are print coordinates (z = 0 on the
// build plate): the standard head lies face down, the clip lies on its outer (top) face.
// UNCERTAIN marks a value no public source confirmed; the comment says why it is what it is.

// ---- printing ---------------------------------------------------------------------
fit_clearance = 0.15;      // per side, for glued-in parts (magnet, coil); usual FDM tolerance for a 0.4 mm nozzle
overhang_limit_deg = 45;   // steepest downward face (from vertical) that prints without supports; the tests check it

// ---- optics, both parts -----------------------------------------------------------
// 5 mm (T-1 3/4) IR LED and phototransistor: TSAL6200 (940 nm) and BPW 40; both public heads below use 5 mm parts.
opto_diameter = 5.0;       // Hal9k-dk/kamstrup:cad/kamstrup-33mm.scad (5 mm holes); cfeenstra1024/kamstrup-multical-hardware BOM (LED_D5.0mm)
opto_bore_clearance = 0.1; // per side: the body slides in and is held by its flange and a drop of glue
opto_flange_diameter = 5.8;// T-1 3/4 collar per common 5 mm LED drawings; the light barrier must fit between two flanges
opto_seat_to_tip = 8.6;    // UNCERTAIN per part: flange underside to dome tip of a typical 5 mm LED; check your datasheet
opto_recess = 0.3;         // dome tip stays this far behind the face so it never scratches the meter window
opto_pitch = 7.0;          // UNCERTAIN: LED-to-phototransistor centre distance of Hal9k-dk/kamstrup:cad/kamstrup-33mm.scad (holes at x = +-3.5); the standard's value was not found
light_barrier_thickness = 1.0; // rib between the two flanges: opto_pitch - opto_flange_diameter leaves 1.2 mm
label_stroke = 0.8;        // width of V-carved label strokes
label_wall_deg = 30;       // V-groove walls, from vertical: below overhang_limit_deg, so labels on the build plate face print

// ---- standard IEC 62056-21 head ----------------------------------------------------
head_diameter = 32;        // UNCERTAIN: docs/iec62056-21.md §1 recalls "about 32 mm" from the standard's drawing, not re-checked; Hal9k's head is 33 mm
head_height = 20;          // face to rim: optics tower + board gap + board + components, see head.scad
ring_magnet_od = 27;       // UNCERTAIN: the standard's size was not verified (iec62056-21.md §1); FranzImsch/stromzaehler:README.md uses a 27 x 16 x 5 mm ring
ring_magnet_id = 16;       // UNCERTAIN: same source and doubt as ring_magnet_od
ring_magnet_height = 5;    // UNCERTAIN: same source and doubt as ring_magnet_od
face_skin = 0.6;           // plastic between magnet and meter: closes the face so the pocket prints from inside without supports
led_side = -1;             // UNCERTAIN (one source): LED left seen from the back (= facing the meter): the meter's receiver sits left of its port, per digisoft/iec62056-mqtt hw/ README; the standard itself was not checked
cable_diameter = 4.0;      // round 4-core cable (LED, receiver, 3.3 V, GND); the notch clamps it
cable_angle = -90;         // cable leaves pointing down: the standard's drawing has it so (iec62056-21.md §1)
board_width = 18;          // 7 x 7 holes of 2.54 mm perfboard; must fit inside the cavity (test checks the diagonal)
board_thickness = 1.6;
board_gap = 2.0;           // under the board: LED/phototransistor flanges and solder; the light barrier fills it
component_height = 6.0;    // tallest part on the board (TO-92 transistor bent over)
lid_thickness = 2.0;
lid_spigot_height = 3.0;   // also the cable-clamping key's height
lid_spigot_wall = 1.2;
lid_clearance = 0.15;      // per side between lid spigot and head bore; tests accept 0.1 .. 0.35

// ---- wake coil ("magnet on demand") -------------------------------------------------
// flowIQ / Multical 21 eyes are reported to go silent after minutes with a magnet left on and to
// wake only when a magnet is re-applied (esphome/feature-requests#1402, docs/kmp.md §1):
// a coil switched by the firmware's wake output stands in for the hand that re-applies it.
// "none": no coil pocket; "beside": coil pocket next to the permanent magnet;
// "instead": coil pocket, no permanent magnet pocket.
head_wake_coil = "none";   // IEC electricity meters wake without a magnet: the plain head is the standard one
clip_wake_coil = "beside";
wake_coil_diameter = 8.0;  // radial drum-core inductor, about 1 mH, 8 x 10 mm class; UNCERTAIN that its field wakes the meter: untested
wake_coil_height = 10.0;   // UNCERTAIN: same part as wake_coil_diameter
head_coil_angle = 90;      // head: coil pocket in a side lobe opposite the cable, beside the ring magnet
head_coil_wall = 1.2;      // head: plastic between the ring magnet's pocket and the coil's

// ---- Kamstrup Multical 21 / flowIQ clip ---------------------------------------------
// Kamstrup's own holder rests on the meter's outer rim; the magnet sensor is thought to sit
// under that rim (esphome/feature-requests#1402, mroek 2023-04-23; docs/iec62056-21.md §1).
rim_diameter = 70;         // UNCERTAIN, PLACEHOLDER: no dimensioned drawing of the MC21/flowIQ rim was found; measure yours with a caliper
rim_clearance = 0.25;      // per side between collar and rim: slides on, sits without rattling; tests accept 0.1 .. 0.5
collar_height = 6;         // how far the collar reaches down the rim's side; UNCERTAIN what lies below the rim
collar_wall = 2.0;
collar_arc = 240;          // degrees the collar wraps; more than 180 so the clip cannot slide off sideways
label_flange_width = 5.5;  // flat ring on top of the collar that carries "TURN 180° IF SILENT"
label_flange_thickness = 2.0;
label_height = 3.2;        // capital height of the carved text
eye_inset = 9;             // UNCERTAIN: rim edge to the eye's centre, towards the meter's centre; no public drawing, measure
clip_magnet_diameter = 6;  // 6 x 3 mm neodymium disc, as cfeenstra1024/kamstrup-multical-hardware README (2 per hole fit)
clip_magnet_height = 3;
clip_magnet_fit = 0.05;    // per side: FDM holes print undersize, so this is a press fit a pen can push out to turn the magnet over
clip_magnet_arc = -12;     // UNCERTAIN: magnet centre along the rim from the eye (mm of arc); the sensor position is not public
clip_magnet_inset = 3.5;   // UNCERTAIN: magnet centre inside the rim edge, i.e. over the rim wall where the sensor is suspected
clip_coil_arc = 13;        // UNCERTAIN like clip_magnet_arc: "beside" puts the coil on the other side of the optics, mirroring the magnet; "instead" uses -clip_coil_arc
clip_coil_inset = 4.75;    // keeps the coil pocket inside the rim edge
pod_wall = 1.6;            // plastic around every bore and pocket in the clip

// ---- the meters in the pictures (drawings.scad; nothing printed depends on these) ----------
// Multical 21 / flowIQ: a cylinder of rim_diameter whose top edge is the rim the clip sits on,
// with the window (and the eye behind it) a little lower inside the rim.
meter_body_height = 30;    // UNCERTAIN: drawn height of the meter's round top part; no dimensioned drawing was found
meter_rim_width = 2.5;     // UNCERTAIN: width of the raised rim's top; estimated from photos, not measured
meter_face_depth = 0.5;    // UNCERTAIN: how far the window inside the rim lies below the rim's top; if it is deeper, the LED is further from the eye
meter_eye_diameter = 10;   // UNCERTAIN: the eye's dark window, drawn at eye_inset; its size is not public
// IEC 62056-21 meter: a flat, upright face with the optical port, the steel ring the head's magnet holds on.
iec_port_ring_od = 32;     // UNCERTAIN: drawn as wide as the head (head_diameter's source); real rings vary
iec_port_window = 12;      // UNCERTAIN: the window inside the ring, with the meter's LED and receiver behind it
iec_face_size = [90, 110]; // width and height of the drawn meter face: picture size only
