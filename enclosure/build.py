#!/usr/bin/env python3
"""Regenerate the reading head's STL exports and PNG pictures from the OpenSCAD sources.

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

PNG_SIZE = (900, 700)
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


def export_stl(name, out_dir, openscad="openscad", extra=None):
    """Export one part as binary STL into out_dir and return its path; `extra` overrides more params."""
    source, overrides, _ = PARTS[name]
    out = Path(out_dir) / f"{name}.stl"
    command = [openscad, "--export-format", "binstl", "-o", str(out)]
    for key, value in {**overrides, **(extra or {})}.items():
        command += ["-D", f"{key}={scad_literal(value)}"]
    command.append(str(HERE / source))
    done = subprocess.run(command, capture_output=True, text=True)
    # OpenSCAD reports a failed assert() on stderr and may still exit 0 with no file.
    if done.returncode != 0 or "ERROR" in done.stderr or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"openscad failed for {name}:\n{done.stderr}")
    return out


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


def build(out_dir=EXPORT_DIR, names=None, pictures=True, openscad="openscad"):
    """Export the named parts (all by default) in parallel; return {name: [files written]}.

    OpenSCAD 2021.01 writes the triangles in a different order on every run, so an STL that
    still holds the same solid is left untouched (and so is its picture): rebuilding without a
    source change changes nothing in git.
    """
    names = list(names or PARTS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(name):
        target = out_dir / f"{name}.stl"
        with tempfile.TemporaryDirectory() as tmp:
            fresh = export_stl(name, tmp, openscad)
            changed = not target.exists() or not same_solid(fresh, target)
            if changed:
                shutil.move(fresh, target)
        missing = any(not (out_dir / f"{name}{suffix}.png").exists() for suffix in PARTS[name][2])
        written = [target] if changed else []
        if pictures and (changed or missing):
            written += render_pngs(name, target, out_dir, openscad)
        return name, written

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(one, names))


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
