#!/usr/bin/env python3
"""Regenerate the reading head's STL exports, PNG pictures and annotated drawings from the OpenSCAD sources.

    python enclosure/build.py              # everything into enclosure/export/
    python enclosure/build.py --no-png     # STL only (no X server needed)
    python enclosure/build.py --out DIR    # somewhere else (the tests do this)

Needs `openscad` (Debian 2021.01); pictures also need `xvfb-run` and `xauth`.
"""

import argparse
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPORT_DIR = HERE / "export"
PARAMS_FILE = HERE / "params.scad"

# Each export: its source, the params.scad values it overrides, and its pictures: file suffix ->
# OpenSCAD --camera rotation (x, y, z degrees; the camera then frames the whole part), plus
# "flip" to show the part the way up it is used, "cut" to remove the half nearest the camera.
PARTS = {
    "head": ("head.scad", {}, {"": ((35, 0, 20), ()), "-section": ((65, 0, 20), ("cut",))}),
    "head-coil": ("head.scad", {"head_wake_coil": "beside"}, {"": ((35, 0, 160), ())}),
    "lid": ("lid.scad", {}, {"": ((35, 0, 20), ())}),
    "clip": ("clip.scad", {}, {"": ((40, 0, 0), ()), "-top": ((40, 0, 0), ("flip",))}),
    "clip-coil-only": ("clip.scad", {"clip_wake_coil": "instead"}, {"": ((40, 0, 0), ())}),
}

# The builder's drawings (drawings.scad): picture name -> (module, the parts whose STL it shows,
# camera rotation). Each is written as NAME.png with NAME.json, the labels and dimensions it shows.
DRAWINGS = {
    "head-assembly": ("head_assembly", ("head-coil",), (58, 0, 35)),
    "head-dimensions": ("head_dimensions", ("head",), (78, 0, 0)),
    "clip-assembly": ("clip_assembly", ("clip",), (62, 0, 200)),
    "clip-dimensions": ("clip_dimensions", ("clip",), (30, 0, 180)),
    "clip-on-meter": ("clip_on_multical21", ("clip",), (52, 0, 200)),
    "head-on-meter": ("head_on_iec_meter", ("head", "lid"), (72, 0, 35)),
}

PNG_SIZE = (900, 700)
DRAWING_SIZE = (1000, 760)
DRAWING_MARGIN = 0.04   # of the picture's height, around everything drawn
FIELD_OF_VIEW = 22.5    # degrees, OpenSCAD's: an orthographic view shows 2 * distance * tan(fov / 2) in height
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*([^;]*);")


def read_params(path=PARAMS_FILE):
    """The literal values of params.scad, by name."""
    params = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        match = _ASSIGNMENT.match(line.split("//", 1)[0])
        if not match:
            continue
        name, text = match.groups()
        try:
            params[name] = json.loads(text.strip())
        except json.JSONDecodeError:
            # The tests compare the mesh with these values, so an expression here would be
            # a value nobody checks.
            raise ValueError(f"{path}:{number}: {name} is not a literal: {text.strip()}") from None
    return params


def scad_literal(value):
    return json.dumps(value)  # JSON numbers, strings, booleans and lists are OpenSCAD literals too


def definitions(values):
    """openscad -D arguments that set params (or other top-level variables) to `values`."""
    command = []
    for key, value in values.items():
        command += ["-D", f"{key}={scad_literal(value)}"]
    return command


def openscad_stl(source, out, overrides=None, openscad="openscad"):
    """Export an OpenSCAD file as binary STL to `out`, with params overridden; return `out`."""
    out = Path(out)
    command = [openscad, "--export-format", "binstl", "-o", str(out), *definitions(overrides or {}), str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    # OpenSCAD reports a failed assert() on stderr and may still exit 0 with no file.
    if done.returncode != 0 or "ERROR" in done.stderr or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"openscad failed for {Path(source).name}:\n{done.stderr}")
    return out


def export_stl(name, out_dir, openscad="openscad", extra=None):
    """Export one part as binary STL into out_dir and return its path; `extra` overrides more params."""
    source, overrides, _ = PARTS[name]
    return openscad_stl(HERE / source, Path(out_dir) / f"{name}.stl", {**overrides, **(extra or {})}, openscad)


def drawing_scene(name, stl_folder):
    """The OpenSCAD text of one drawing: drawings.scad and a call of its module with the STL paths."""
    module, parts, _ = DRAWINGS[name]
    paths = ", ".join(scad_literal(str((Path(stl_folder) / f"{part}.stl").resolve())) for part in parts)
    return f"include <{(HERE / 'drawings.scad').as_posix()}>\n{module}({paths});\n"


def read_echoes(text):
    """(name, value) of every `ECHO: name = value` line; values are OpenSCAD literals, JSON-compatible."""
    echoes = []
    for line in text.splitlines():
        match = re.match(r"^ECHO: (\w+) = (.*)$", line)
        if match:
            echoes.append((match.group(1), json.loads(match.group(2))))
    return echoes


def frame_camera(echoes, size):
    """The --camera argument that shows every echoed extent and annotation with a margin.

    drawings.scad echoes screen coordinates (mm, x right, y up) and the screen's axes in world
    coordinates; an orthographic camera centred on the middle of it all and far enough away to
    show its width and height frames the picture.
    """
    points, axes = [], None
    for name, value in echoes:
        if name == "extent":
            points += value
        elif name == "screen_axes":
            axes = value
        elif name == "annotation":
            boxes = value[4] if value[0] == "label" else [value[5]]
            points += [corner for box in boxes for corner in box] + [value[3] if value[0] == "label" else value[4][0]]
    if not points or axes is None:
        raise RuntimeError("the drawing echoed no extent")
    low = [min(p[i] for p in points) for i in (0, 1)]
    high = [max(p[i] for p in points) for i in (0, 1)]
    middle = [(low[i] + high[i]) / 2 for i in (0, 1)]
    height = max(high[1] - low[1], (high[0] - low[0]) * size[1] / size[0]) * (1 + 2 * DRAWING_MARGIN)
    distance = height / (2 * math.tan(math.radians(FIELD_OF_VIEW / 2)))
    right, up = axes
    target = [middle[0] * right[i] + middle[1] * up[i] for i in range(3)]
    return target, distance


def render_drawing(name, stl_folder, out_dir, extra=None, openscad="openscad"):
    """Render one drawing into out_dir as NAME.png and NAME.json; return both paths.

    Two runs of OpenSCAD: the first only evaluates the scene, which echoes its annotations and
    extent; the second renders the picture with the camera framed on them.
    """
    _, _, view = DRAWINGS[name]
    values = {**(extra or {}), "view": list(view)}
    with tempfile.TemporaryDirectory() as tmp:
        scene = Path(tmp) / f"{name}.scad"
        scene.write_text(drawing_scene(name, stl_folder), encoding="utf-8")
        echo_file = Path(tmp) / f"{name}.echo"
        done = subprocess.run([openscad, "-o", str(echo_file), *definitions(values), str(scene)],
                              capture_output=True, text=True)
        if done.returncode != 0 or "ERROR" in done.stderr or not echo_file.exists():
            raise RuntimeError(f"drawing {name} failed:\n{done.stderr}")
        echoes = read_echoes(echo_file.read_text(encoding="utf-8"))
        target, distance = frame_camera(echoes, DRAWING_SIZE)
        png = Path(out_dir) / f"{name}.png"
        camera = ",".join(f"{v:.4f}" for v in [*target, *view, distance])
        command = [
            "xvfb-run", "-a", openscad, "-o", str(png), *definitions(values),
            f"--imgsize={DRAWING_SIZE[0]},{DRAWING_SIZE[1]}", "--colorscheme=Tomorrow",
            "--projection=ortho", f"--camera={camera}", str(scene),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or "ERROR" in done.stderr or not png.exists() or png.stat().st_size == 0:
            raise RuntimeError(f"picture of drawing {name} failed:\n{done.stderr}")
    annotations = [annotation_record(value) for key, value in echoes if key == "annotation"]
    record = Path(out_dir) / f"{name}.json"
    record.write_text(json.dumps({"picture": png.name, "view": list(view), "annotations": annotations},
                                 ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [png, record]


def annotation_record(value):
    """One echoed label or dimension as the JSON record build.py keeps beside the picture."""
    if value[0] == "label":
        kind, lines, params, anchor, _ = value
        return {"kind": kind, "text": lines, "params": params, "anchor": [round(v, 3) for v in anchor]}
    kind, text, params, number, _, _ = value
    return {"kind": kind, "text": text, "params": params, "value": number}


def render_pngs(name, stl, out_dir, openscad="openscad"):
    """Picture the exported mesh itself, so the image shows exactly what was exported."""
    pictures = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, ((rx, ry, rz), options) in PARTS[name][2].items():
            # convexity lets the OpenGL preview draw a concave imported mesh correctly
            body = f'import("{Path(stl).resolve()}", convexity = 10)'
            if "flip" in options:
                body = f"rotate([0, 180, 0]) {body}"
            if "cut" in options:
                # the OpenGL preview gets this subtraction wrong; render() computes it exactly
                body = f"render() difference() {{ {body}; translate([-100, -200, -100]) cube(200); }}"
            scene = Path(tmp) / f"scene{suffix}.scad"
            scene.write_text(f'color("SteelBlue") {body};\n', encoding="utf-8")
            png = Path(out_dir) / f"{name}{suffix}.png"
            command = [
                "xvfb-run", "-a", openscad, "-o", str(png),
                f"--imgsize={PNG_SIZE[0]},{PNG_SIZE[1]}", "--colorscheme=Tomorrow",
                f"--camera=0,0,0,{rx},{ry},{rz},0", "--viewall", "--autocenter",
                str(scene),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not png.exists() or png.stat().st_size == 0:
                raise RuntimeError(f"picture of {name}{suffix} failed:\n{done.stderr}")
            pictures.append(png)
    return pictures


def stl_summary(path):
    """Volume, surface area and bounding box of a binary STL."""
    data = Path(path).read_bytes()
    (count,) = struct.unpack_from("<I", data, 80)
    volume = area = 0.0
    low, high = [math.inf] * 3, [-math.inf] * 3
    for values in struct.iter_unpack("<12fH", data[84:84 + 50 * count]):
        a, b, c = values[3:6], values[6:9], values[9:12]
        ab = [b[i] - a[i] for i in range(3)]
        ac = [c[i] - a[i] for i in range(3)]
        cross = [ab[1] * ac[2] - ab[2] * ac[1], ab[2] * ac[0] - ab[0] * ac[2], ab[0] * ac[1] - ab[1] * ac[0]]
        area += math.sqrt(sum(x * x for x in cross)) / 2
        volume += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                   + a[2] * (b[0] * c[1] - b[1] * c[0])) / 6
        for point in (a, b, c):
            for i in range(3):
                low[i] = min(low[i], point[i])
                high[i] = max(high[i], point[i])
    return volume, area, low + high


def same_solid(path_a, path_b):
    """True when two STL files hold the same solid, whatever order their triangles come in."""
    a, b = stl_summary(path_a), stl_summary(path_b)
    return (math.isclose(a[0], b[0], rel_tol=1e-7) and math.isclose(a[1], b[1], rel_tol=1e-7)
            and all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a[2], b[2])))


def build(out_dir=EXPORT_DIR, names=None, pictures=True, openscad="openscad", extra=None):
    """Export the named parts (all by default) in parallel, then the drawings that show only
    those parts; return {name: [files written]}. `extra` overrides params in all of them.

    OpenSCAD 2021.01 writes the triangles in a different order on every run, so an STL that
    still holds the same solid is left untouched (and so is its picture): rebuilding without a
    source change changes nothing in git. Drawings are rendered every time (they also show
    things that are not in any STL) and replace the old files only when a byte differs.
    """
    names = list(names or PARTS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(name):
        target = out_dir / f"{name}.stl"
        with tempfile.TemporaryDirectory() as tmp:
            fresh = export_stl(name, tmp, openscad, extra)
            changed = not target.exists() or not same_solid(fresh, target)
            if changed:
                shutil.move(fresh, target)
        missing = any(not (out_dir / f"{name}{suffix}.png").exists() for suffix in PARTS[name][2])
        written = [target] if changed else []
        if pictures and (changed or missing):
            written += render_pngs(name, target, out_dir, openscad)
        return name, written

    def drawing(name):
        with tempfile.TemporaryDirectory() as tmp:
            fresh = render_drawing(name, out_dir, tmp, extra, openscad)
            written = []
            for path in fresh:
                target = out_dir / path.name
                if not target.exists() or target.read_bytes() != path.read_bytes():
                    shutil.move(path, target)
                    written.append(target)
        return name, written

    drawings = [d for d, (_, parts, _) in DRAWINGS.items() if pictures and set(parts) <= set(names)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = dict(pool.map(one, names))
        done.update(pool.map(drawing, drawings))
    return done


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=EXPORT_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--no-png", action="store_true", help="skip the pictures")
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    if shutil.which("openscad") is None:
        sys.exit("openscad not found: apt-get install -y openscad xvfb xauth")
    if not args.no_png and shutil.which("xvfb-run") is None:
        sys.exit("xvfb-run not found (pictures need an X server): apt-get install -y xvfb xauth, or use --no-png")
    for name, files in build(args.out, args.parts, pictures=not args.no_png).items():
        print(f"{name}: " + (", ".join(f.name for f in files) or "unchanged"))


if __name__ == "__main__":
    main()
