"""Measuring the reading head's meshes: ray casts, overhang area, and access to enclosure/build.py.

trimesh's own ray casting needs rtree, which the dev extra does not install, so rays are cast
here with a vectorised Moeller-Trumbore test against every triangle (a few thousand per part).
"""

import importlib.util
import math
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh

ROOT = Path(__file__).resolve().parents[2]
ENCLOSURE = ROOT / "enclosure"
EXPORTS = ENCLOSURE / "export"

# Downward-facing area (steeper than the limit, off the build plate) a part may have. Our parts
# are drawn to have none; the allowance only absorbs facets of the 8-sided V-carving cones.
OVERHANG_ALLOWANCE_MM2 = 1.0


def load_build():
    """enclosure/build.py as a module (enclosure/ is not a package)."""
    spec = importlib.util.spec_from_file_location("metereye_enclosure_build", ENCLOSURE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_openscad():
    """Skip without openscad on a developer machine; in CI (CI=true) a missing openscad fails."""
    if shutil.which("openscad"):
        return
    if os.environ.get("CI"):
        pytest.fail("openscad is not installed; CI must run the enclosure tests (apt-get install -y openscad)")
    pytest.skip("openscad is not installed (apt-get install -y openscad); the export tests need it")


def load_mesh(name, folder=EXPORTS):
    return trimesh.load(Path(folder) / f"{name}.stl", force="mesh")


def ray_hits(mesh, origin, direction):
    """Distances along the ray at which it crosses the mesh surface, nearest first."""
    origin = np.asarray(origin, dtype=float)
    direction = np.asarray(direction, dtype=float)
    direction = direction / np.linalg.norm(direction)
    triangles = mesh.triangles
    v0 = triangles[:, 0]
    edge1 = triangles[:, 1] - v0
    edge2 = triangles[:, 2] - v0
    p = np.cross(direction, edge2)
    det = np.einsum("ij,ij->i", edge1, p)
    usable = np.abs(det) > 1e-12
    inv = np.zeros_like(det)
    inv[usable] = 1.0 / det[usable]
    s = origin - v0
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, edge1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", q, edge2) * inv
    eps = 1e-9
    hit = usable & (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps) & (t > 1e-7)
    distances = np.sort(t[hit])
    # A ray through an edge or a vertex meets every triangle there at the same distance.
    if distances.size:
        distances = distances[np.concatenate(([True], np.diff(distances) > 1e-6))]
    return distances


def horizontal(angle_deg):
    a = math.radians(angle_deg)
    return np.array([math.cos(a), math.sin(a), 0.0])


def radii_from(mesh, centre_xy, z, directions=16):
    """Distance from a point inside a hole to its wall, in evenly spread horizontal directions."""
    origin = [centre_xy[0], centre_xy[1], z]
    found = []
    for k in range(directions):
        hits = ray_hits(mesh, origin, horizontal(360 * k / directions + 0.37))
        found.append(hits[0] if hits.size else math.inf)
    return np.array(found)


def solid_spans(mesh, origin, direction):
    """(start, end) distances of the stretches of solid along a ray that starts outside the part."""
    hits = ray_hits(mesh, origin, direction)
    assert hits.size % 2 == 0, f"ray from {origin} crosses the surface an odd number of times: {hits}"
    return [(hits[i], hits[i + 1]) for i in range(0, hits.size, 2)]


def first_surface_below(mesh, xy, from_z=None):
    """Height of the first surface met by a ray going straight down from above the part at xy."""
    top = mesh.bounds[1, 2] + 1.0 if from_z is None else from_z
    hits = ray_hits(mesh, [xy[0], xy[1], top], [0, 0, -1])
    return None if not hits.size else top - hits[0]


def is_inside(mesh, points):
    """Point-in-solid by the parity of crossings along a slightly tilted ray (misses edges)."""
    direction = np.array([0.0123, 0.0371, 1.0])
    return np.array([ray_hits(mesh, p, direction).size % 2 == 1 for p in np.asarray(points, float)])


def overhang_area(mesh, limit_deg):
    """Area of faces tilted more than limit_deg from vertical and facing down, off the build plate."""
    normals_z = mesh.face_normals[:, 2]
    steep_down = normals_z < -math.sin(math.radians(limit_deg)) - 1e-9
    lowest = mesh.bounds[0, 2]
    on_plate = mesh.triangles[:, :, 2].max(axis=1) <= lowest + 1e-3
    return float(mesh.area_faces[steep_down & ~on_plate].sum())


def plate_contact_area(mesh):
    """Area of downward faces lying on the build plate: what the part stands on."""
    lowest = mesh.bounds[0, 2]
    on_plate = mesh.triangles[:, :, 2].max(axis=1) <= lowest + 1e-3
    return float(mesh.area_faces[on_plate & (mesh.face_normals[:, 2] < -0.999)].sum())


def polar(r, angle_deg):
    a = math.radians(angle_deg)
    return np.array([r * math.cos(a), r * math.sin(a)])


def read_png(path):
    """Pixels of an 8-bit RGB or RGBA PNG (what OpenSCAD writes) as a (height, width, channels) array.

    The venv has no imaging library; this undoes zlib and the five PNG row filters.
    """
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour_type, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, "only 8-bit RGB(A), not interlaced"
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            line = row
        elif kind == 1:
            line = row.reshape(width, channels).cumsum(axis=0).reshape(stride) & 0xFF
        elif kind == 2:
            line = (row + previous) & 0xFF
        else:
            line = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = line[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 3:
                    line[x] = (row[x] + (left + up) // 2) & 0xFF
                else:
                    upper_left = previous[x - channels] if x >= channels else 0
                    estimate = left + up - upper_left
                    pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
                    line[x] = (row[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else upper_left)) & 0xFF
        pixels[y] = line
        previous = line
    return pixels.reshape(height, width, channels)
