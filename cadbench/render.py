"""Headless renderer: a vectorised numpy z-buffer rasterizer with flat Lambert shading.

No display, no GPU, no system library: the same mesh gives the same pixels on every machine
(pure float64 numpy, no threads). Orthographic camera.

Framing (`frame=`):
- "fixed" (default): the camera looks at the world origin and the cube [-extent, extent]^3
  (extent 0.75, GenCAD-Code's normalised frame) fills the image. Size and position survive in
  the image, so a model can read dimensions off it (a 0.3-wide part looks half as big as a
  0.6-wide one). A mesh reaching outside the cube widens the frame to its largest |coordinate|
  so nothing is clipped (then the scale is no longer the dataset's).
- "fit": the part's own bounding box fills the image (scale and position are lost); what one
  wants for a thumbnail of an arbitrary prediction.
"""

from __future__ import annotations

import numpy as np

from .geometry.mesh import Mesh

# Directions from the part towards the camera; z is up.
VIEWS: dict[str, tuple[float, float, float]] = {
    "iso": (1.0, -1.0, 1.0),      # front-right-top, the usual CAD isometric
    "iso_back": (-1.0, 1.0, 1.0),
    "front": (0.0, -1.0, 0.0),
    "back": (0.0, 1.0, 0.0),
    "right": (1.0, 0.0, 0.0),
    "left": (-1.0, 0.0, 0.0),
    "top": (0.0, 0.0, 1.0),
    "bottom": (0.0, 0.0, -1.0),
}

PART_COLOR = np.array([0.62, 0.72, 0.86])   # light steel blue
BACKGROUND = (255, 255, 255)
MARGIN = 0.04                                # fraction of the image left free on each side
# Light in camera coordinates (right, up, towards the viewer): from the upper left, so the
# three visible faces of a box in the iso view get three clearly different shades.
LIGHT_CAM = np.array([-0.35, 0.55, 0.75])
AMBIENT, DIFFUSE = 0.28, 0.72


def camera_basis(view) -> np.ndarray:
    """(3, 3) rows: right, up, towards-viewer, for a named view or a direction vector."""
    if isinstance(view, str) and view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose from {sorted(VIEWS)}")
    d = np.asarray(VIEWS[view] if isinstance(view, str) else view, dtype=np.float64)
    d = d / np.linalg.norm(d)
    world_up = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    right = np.cross(world_up, d)
    right /= np.linalg.norm(right)
    up = np.cross(d, right)
    return np.stack([right, up, d])


def render_mesh(mesh: Mesh, size: int = 224, view="iso", frame: str = "fixed",
                extent: float = 0.75, color=PART_COLOR, background=BACKGROUND) -> np.ndarray:
    """Render a mesh to an (size, size, 3) uint8 RGB image (see module doc for framing)."""
    if isinstance(view, str) and view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose from {sorted(VIEWS)}")
    if frame not in ("fixed", "fit"):
        raise ValueError(f"frame must be 'fixed' or 'fit', got {frame!r}")
    basis = camera_basis(view)
    cam = mesh.vertices @ basis.T                      # (n, 3): x right, y up, z to viewer
    if frame == "fixed":
        half = max(extent, float(np.abs(mesh.vertices).max()))
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1)
                            for sz in (-1, 1)], dtype=np.float64) * half
        proj = corners @ basis[:2].T
        center = np.zeros(2)
        radius = float(np.abs(proj).max())
    else:
        lo, hi = cam[:, :2].min(axis=0), cam[:, :2].max(axis=0)
        center = (lo + hi) / 2
        radius = float(max((hi - lo).max() / 2, 1e-12))
    scale = size * (0.5 - MARGIN) / radius
    # Pixel coordinates: column x to the right, row y downwards; pixel centres at +0.5.
    px = (cam[:, 0] - center[0]) * scale + size / 2
    py = size / 2 - (cam[:, 1] - center[1]) * scale
    pz = cam[:, 2]

    tri_n = _face_normals(cam, mesh.faces)
    shade = _lambert(tri_n, color)
    # Cull faces seen from behind when the mesh is consistently outward (positive volume);
    # otherwise keep both sides (a broken prediction still shows).
    if mesh.volume() > 0:
        keep = tri_n[:, 2] > 1e-12
    else:
        keep = np.abs(tri_n[:, 2]) > 1e-12
    faces = mesh.faces[keep]
    shade = shade[keep]
    img = np.empty((size * size, 3), dtype=np.uint8)
    img[:] = np.asarray(background, dtype=np.uint8)
    if len(faces):
        pix, face_idx = _rasterize(px, py, pz, faces, size)
        img[pix] = shade[face_idx]
    return img.reshape(size, size, 3)


def _face_normals(cam: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = cam[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-300)


def _lambert(normals: np.ndarray, color) -> np.ndarray:
    light = LIGHT_CAM / np.linalg.norm(LIGHT_CAM)
    lam = np.abs(normals @ light)  # two-sided: an inward face still gets lit
    rgb = (AMBIENT + DIFFUSE * lam)[:, None] * np.asarray(color, dtype=np.float64)[None, :]
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _rasterize(px, py, pz, faces, size):
    """Visible face per covered pixel: returns (flat pixel indices, face indices).

    Every triangle enumerates the pixel centres of its bounding box at once (np.repeat), keeps
    those inside (edge functions), and a z-buffer keeps the nearest per pixel."""
    x, y, z = px[faces], py[faces], pz[faces]          # (m, 3) each
    x0 = np.clip(np.ceil(x.min(axis=1) - 0.5), 0, size).astype(np.int64)
    x1 = np.clip(np.floor(x.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    y0 = np.clip(np.ceil(y.min(axis=1) - 0.5), 0, size).astype(np.int64)
    y1 = np.clip(np.floor(y.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    w = np.maximum(x1 - x0 + 1, 0)
    h = np.maximum(y1 - y0 + 1, 0)
    area2 = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    ok = (w * h > 0) & (np.abs(area2) > 1e-12)
    idx = np.nonzero(ok)[0]
    if len(idx) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    x, y, z, x0, y0, w, h, area2 = x[idx], y[idx], z[idx], x0[idx], y0[idx], w[idx], h[idx], area2[idx]
    # Barycentric coordinates are affine in (X, Y): l_i = a_i X + b_i Y + c_i.
    inv = 1.0 / area2
    a = np.empty((len(idx), 3)); b = np.empty_like(a); c = np.empty_like(a)
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        a[:, i] = (y[:, j] - y[:, k]) * inv
        b[:, i] = (x[:, k] - x[:, j]) * inv
        c[:, i] = (x[:, j] * y[:, k] - x[:, k] * y[:, j]) * inv
    # Depth is affine too: z = sum_i l_i z_i.
    za = (a * z).sum(axis=1); zb = (b * z).sum(axis=1); zc = (c * z).sum(axis=1)

    counts = w * h
    tri = np.repeat(np.arange(len(idx)), counts)
    k = np.arange(len(tri)) - np.repeat(np.cumsum(counts) - counts, counts)
    wt = w[tri]
    X = (x0[tri] + k % wt).astype(np.float64) + 0.5
    Y = (y0[tri] + k // wt).astype(np.float64) + 0.5
    eps = -1e-9
    inside = np.ones(len(tri), dtype=bool)
    for i in range(3):
        inside &= a[tri, i] * X + b[tri, i] * Y + c[tri, i] >= eps
    tri, X, Y = tri[inside], X[inside], Y[inside]
    depth = za[tri] * X + zb[tri] * Y + zc[tri]
    pix = (Y.astype(np.int64)) * size + X.astype(np.int64)
    # Nearest (largest z towards viewer) per pixel; ties broken by face index: deterministic.
    order = np.lexsort((tri, -depth, pix))
    pix_s = pix[order]
    first = np.ones(len(pix_s), dtype=bool)
    first[1:] = pix_s[1:] != pix_s[:-1]
    win = order[first]
    return pix[win], idx[tri[win]]


def save_png(image: np.ndarray, path) -> None:
    from PIL import Image
    Image.fromarray(image).save(path, optimize=False)


def render_shape(shape, size: int = 224, view="iso", frame: str = "fixed", **kw) -> np.ndarray:
    """Render a cadquery Shape/Workplane (tessellated as the scorer does)."""
    from .geometry.tessellate import shape_to_mesh
    if hasattr(shape, "val") and hasattr(shape, "vals"):   # a Workplane
        import cadquery as cq
        vals = [v for v in shape.vals() if isinstance(v, cq.Shape)]
        shape = vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)
    return render_mesh(shape_to_mesh(shape), size=size, view=view, frame=frame, **kw)


def render_code(code: str, size: int = 224, view="iso", frame: str = "fixed",
                result_var: str = "solid", **kw) -> np.ndarray:
    """Execute TRUSTED code in this process and render its `result_var`. Never use it on a
    model's output: candidates run only in the sandbox (execute/)."""
    ns: dict = {}
    exec(compile(code, "<trusted program>", "exec"), ns)
    if result_var not in ns:
        raise ValueError(f"the program defines no variable {result_var!r}")
    return render_shape(ns[result_var], size=size, view=view, frame=frame, **kw)
