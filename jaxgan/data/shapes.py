"""Synthetic "shapes" scenes with planted, recorded factors and exact concept masks.

A scene is drawn back to front in four layers, in image coordinates ``u = (x, y)`` in
[0, 1]^2 (x to the right, y downwards, pixel ``j`` has its centre at ``(j + 0.5) / R``):

  1. **sky**: flat colour ``sky_color`` everywhere;
  2. **ground**: flat ``ground_color`` below the horizontal line ``y = horizon``;
  3. **sun** (if ``has_sun``): a disc of ``SUN_COLOR``, centre ``(sun_x, sun_y)``, radius
     ``sun_radius``, sampled to lie entirely in the sky (above the horizon);
  4. **object**: one shape from :data:`ALL_SHAPES` with colour ``object_color``,
     centre ``(object_x, object_y)``, rotation ``rotation`` (radians), sampled to lie
     entirely inside the image. ``object_size`` is the square root of its area as a
     fraction of the image (``area = object_size**2`` for every shape), so size and shape
     are independent factors. If ``has_texture``, stripes of colour
     ``STRIPE_DARKEN * object_color`` cover half of each period of a plane wave with
     ``stripe_freq`` cycles per image width and direction ``stripe_angle`` (image frame).

Anti-aliasing is analytic: every layer has a signed distance ``d(u)`` (negative inside)
and pixel coverage ``clip(0.5 - d * R, 0, 1)``; layers are alpha-composited with it, so
moving or scaling a factor changes the image smoothly. Geometry is defined in [0, 1]
units, so one seed gives the same scene at every resolution.

Masks (``bool [N, R, R]``) threshold each layer's coverage at 0.5 (i.e. the pixel centre
lies inside the shape) and respect the drawing order: ``object = cov_obj > .5``;
``sun = cov_sun > .5 & ~object``; ``ground = cov_ground > .5 & ~object & ~sun``;
``sky`` = the rest. So sky/ground/sun/object partition the image. ``mask_<shape>`` is
the object mask for images of that shape (empty otherwise); ``texture`` is the stripe
pixels of the object (``object & cov_stripe > .5``, empty without texture).

Randomness: image ``i`` of a call uses only ``np.random.default_rng([seed, start + i])``
and a fixed number of uniforms from it, one column per factor, so chunks rendered with
different ``start`` concatenate to exactly one big call, and changing one option (say
``p_sun``) leaves the other factors of every image unchanged.
"""
from __future__ import annotations

import math

import numpy as np

#: Every object shape the renderer knows; ``factors['shape']`` indexes this tuple.
ALL_SHAPES = ("circle", "square", "triangle", "hexagon", "star")
#: Shapes sampled by default (the 3-way ``shape`` task).
DEFAULT_SHAPES = ("circle", "square", "triangle")
#: Factor arrays returned by :func:`sample_factors` (``index``, ``object_area`` derived).
FACTOR_NAMES = ("index", "shape", "object_size", "object_area", "object_x", "object_y",
                "rotation", "object_color", "horizon", "sky_color", "ground_color",
                "has_sun", "sun_x", "sun_y", "sun_radius", "has_texture", "stripe_freq",
                "stripe_angle")
#: Concepts with a ``mask_<name>`` array in :func:`render_factors`' output.
MASK_NAMES = ("sky", "ground", "object", *ALL_SHAPES, "sun", "texture")

SUN_COLOR = (1.0, 0.85, 0.25)
STRIPE_DARKEN = 0.35
_MARGIN = 0.02          # minimum distance of object / sun to the image border
_NUM_UNIFORMS = 32      # per image; columns below, the rest reserved
_COL = dict(shape=0, object_size=1, object_x=2, object_y=3, rotation=4, object_color=5,
            horizon=8, sky_color=9, ground_color=12, has_sun=15, sun_x=16, sun_y=17,
            sun_radius=18, has_texture=19, stripe_freq=20, stripe_angle=21)
# HSV ranges (h, s, v lower/upper) of the sampled colours.
_HSV = dict(object_color=((0.0, 0.65, 0.75), (1.0, 1.0, 1.0)),
            sky_color=((0.5, 0.15, 0.7), (0.72, 0.6, 1.0)),
            ground_color=((0.05, 0.3, 0.25), (0.4, 0.8, 0.6)))
_SQRT3 = math.sqrt(3.0)
_STAR_INNER = 0.5       # inner / outer radius of the 5-pointed star
# Area of each shape with unit "scale" (radius / half-side / circumradius / outer radius).
_UNIT_AREA = dict(circle=math.pi, square=4.0, triangle=3 * _SQRT3 / 4, hexagon=3 * _SQRT3 / 2,
                  star=5 * _STAR_INNER * math.sin(math.radians(36)))
# Bounding radius (max distance of the shape from its centre) per unit scale.
_UNIT_BOUND = dict(circle=1.0, square=math.sqrt(2.0), triangle=1.0, hexagon=1.0, star=1.0)
_DEFAULT_OPTIONS = dict(shapes=DEFAULT_SHAPES, p_sun=0.5, p_texture=0.5, size_range=(0.18, 0.4),
                        horizon_range=(0.4, 0.75), sun_radius_range=(0.05, 0.08),
                        stripe_freq_range=(3.0, 6.0), rotate=True)
_OVERRIDABLE = tuple(k for k in FACTOR_NAMES if k not in ("index", "object_area"))
_PIXEL_BUDGET = 1 << 20  # pixels per rendering chunk


def shape_scale(shape, object_size):
    """Scale parameter of each shape from its ``object_size`` (sqrt of area fraction).

    Args:
      shape: int [N], indices into :data:`ALL_SHAPES`.
      object_size: float [N].

    Returns:
      float32 [N]: circle radius, square half-side, triangle / hexagon circumradius or
      star outer radius, in image-width units.
    """
    unit = np.array([_UNIT_AREA[s] for s in ALL_SHAPES], np.float64)[np.asarray(shape)]
    return (np.asarray(object_size, np.float64) / np.sqrt(unit)).astype(np.float32)


def _check_resolution(resolution) -> int:
    r = int(resolution) if isinstance(resolution, (int, np.integer)) else -1
    if not (16 <= r <= 256 and r & (r - 1) == 0):
        raise ValueError(f"resolution must be a power of two in 16..256, got {resolution!r}")
    return r


def _check_range(name, value, lo, hi):
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not lo <= a <= b <= hi:
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return a, b


def _check_prob(name, value):
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return p


def _parse_options(options: dict):
    unknown = sorted(set(options) - set(_DEFAULT_OPTIONS) - set(_OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown factor option(s) {unknown}; valid options are "
                         f"{sorted(_DEFAULT_OPTIONS)} and fixed factors {list(_OVERRIDABLE)}")
    opts = {**_DEFAULT_OPTIONS, **{k: v for k, v in options.items() if k in _DEFAULT_OPTIONS}}
    shapes = (opts["shapes"],) if isinstance(opts["shapes"], str) else tuple(opts["shapes"])
    bad = [s for s in shapes if s not in ALL_SHAPES]
    if not shapes or bad:
        raise ValueError(f"shapes must be a non-empty subset of {ALL_SHAPES}, got {shapes!r}")
    opts["shapes"] = shapes
    opts["p_sun"] = _check_prob("p_sun", opts["p_sun"])
    opts["p_texture"] = _check_prob("p_texture", opts["p_texture"])
    opts["size_range"] = _check_range("size_range", opts["size_range"], 1e-3, 0.5)
    opts["horizon_range"] = _check_range("horizon_range", opts["horizon_range"], 0.3, 0.95)
    opts["sun_radius_range"] = _check_range("sun_radius_range", opts["sun_radius_range"],
                                            1e-3, 0.1)
    opts["stripe_freq_range"] = _check_range("stripe_freq_range", opts["stripe_freq_range"],
                                             0.5, 32.0)
    fixed = {k: v for k, v in options.items() if k in _OVERRIDABLE}
    return opts, fixed


def _override(name, value, n, dtype, tail=()):
    if name == "shape":
        vals = np.asarray(value)
        if vals.dtype.kind in "US":
            lookup = {s: i for i, s in enumerate(ALL_SHAPES)}
            try:
                vals = np.vectorize(lookup.__getitem__, otypes=[np.int64])(vals)
            except KeyError as e:
                raise ValueError(f"unknown shape {e.args[0]!r}; expected one of "
                                 f"{ALL_SHAPES}") from None
        if np.any((vals < 0) | (vals >= len(ALL_SHAPES))):
            raise ValueError(f"shape indices must be in [0, {len(ALL_SHAPES)}), got {value!r}")
        value = vals
    try:
        return np.array(np.broadcast_to(np.asarray(value, dtype), (n, *tail)))
    except ValueError:
        raise ValueError(f"fixed factor {name}: cannot broadcast shape {np.shape(value)} "
                         f"to {(n, *tail)}") from None


def _hsv_to_rgb(hsv):
    """[N, 3] HSV in [0, 1] -> [N, 3] RGB in [0, 1]."""
    h, s, v = hsv[:, 0] * 6.0, hsv[:, 1], hsv[:, 2]
    k = np.stack([(5 + h) % 6, (3 + h) % 6, (1 + h) % 6], axis=1)
    return v[:, None] - (v * s)[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def _uniforms(n: int, seed: int, start: int) -> np.ndarray:
    """float64 [n, _NUM_UNIFORMS]; row i depends only on (seed, start + i)."""
    out = np.empty((n, _NUM_UNIFORMS), np.float64)
    for i in range(n):
        out[i] = np.random.default_rng([seed, start + i]).random(_NUM_UNIFORMS)
    return out


def sample_factors(n: int, seed: int = 0, *, start: int = 0, **factor_options) -> dict:
    """Sample the factors of ``n`` scenes (images ``start .. start + n - 1`` of ``seed``).

    Args:
      n: number of scenes (>= 0).
      seed: non-negative int; scene ``i`` depends only on ``(seed, start + i)``.
      start: index of the first scene (chunked generation).
      **factor_options: sampling options
        ``shapes`` (names from :data:`ALL_SHAPES`, default :data:`DEFAULT_SHAPES`, uniform),
        ``p_sun`` (0.5), ``p_texture`` (0.5), ``size_range`` ((0.18, 0.4), sqrt of area
        fraction), ``horizon_range`` ((0.4, 0.75)), ``sun_radius_range`` ((0.05, 0.08)),
        ``stripe_freq_range`` ((3, 6) cycles / image width), ``rotate`` (True: uniform
        rotation, False: 0); or any factor name with a fixed value (scalar or [n]; colours
        [3] or [n, 3]; ``shape`` also as name(s)), e.g. ``shape='circle', has_sun=True``.
        Dependent factors are re-derived from the same uniforms, e.g. fixing
        ``object_size`` keeps the sampled position inside the image.

    Returns:
      dict: ``index`` int64 [n]; ``shape`` int64 [n]; ``object_size``, ``object_area``
      (= size**2), ``object_x``, ``object_y``, ``rotation``, ``horizon``, ``sun_x``,
      ``sun_y``, ``sun_radius``, ``stripe_freq``, ``stripe_angle`` float32 [n];
      ``object_color``, ``sky_color``, ``ground_color`` float32 [n, 3] in [0, 1];
      ``has_sun``, ``has_texture`` bool [n]. Sun and stripe parameters are sampled even
      when absent, so toggling ``has_sun`` / ``has_texture`` changes nothing else.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    for name, v in (("seed", seed), ("start", start)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    opts, fixed = _parse_options(factor_options)
    n = int(n)
    u = _uniforms(n, int(seed), int(start))
    f32 = np.float32
    c = _COL

    def lerp(col, lo_hi):
        lo, hi = lo_hi
        return lo + u[:, c[col]] * (hi - lo)

    def factor(name, make, dtype=f32, tail=()):
        if name in fixed:
            return _override(name, fixed[name], n, dtype, tail)
        return np.asarray(make(), dtype)

    def colour(name):
        lo, hi = (np.asarray(x) for x in _HSV[name])
        hsv = lo + u[:, c[name]:c[name] + 3] * (hi - lo)
        return factor(name, lambda: _hsv_to_rgb(hsv), f32, (3,))

    out = {"index": np.arange(start, start + n, dtype=np.int64)}
    allowed = np.array([ALL_SHAPES.index(s) for s in opts["shapes"]], np.int64)
    pick = np.minimum((u[:, c["shape"]] * len(allowed)).astype(np.int64), len(allowed) - 1)
    out["shape"] = factor("shape", lambda: allowed[pick], np.int64)
    out["object_size"] = factor("object_size", lambda: lerp("object_size", opts["size_range"]))
    out["object_area"] = (out["object_size"].astype(np.float64) ** 2).astype(f32)
    unit_bound = np.array([_UNIT_BOUND[s] for s in ALL_SHAPES])[out["shape"]]
    bound = shape_scale(out["shape"], out["object_size"]) * unit_bound + _MARGIN
    span = np.maximum(1.0 - 2 * bound, 0.0)
    out["object_x"] = factor("object_x", lambda: bound + u[:, c["object_x"]] * span)
    out["object_y"] = factor("object_y", lambda: bound + u[:, c["object_y"]] * span)
    rot = u[:, c["rotation"]] * 2 * math.pi if opts["rotate"] else np.zeros(n)
    out["rotation"] = factor("rotation", lambda: rot)
    out["object_color"] = colour("object_color")
    out["horizon"] = factor("horizon", lambda: lerp("horizon", opts["horizon_range"]))
    out["sky_color"] = colour("sky_color")
    out["ground_color"] = colour("ground_color")
    out["has_sun"] = factor("has_sun", lambda: u[:, c["has_sun"]] < opts["p_sun"], bool)
    out["sun_radius"] = factor("sun_radius",
                               lambda: lerp("sun_radius", opts["sun_radius_range"]))
    sb = out["sun_radius"].astype(np.float64) + _MARGIN
    out["sun_x"] = factor("sun_x", lambda: sb + u[:, c["sun_x"]] * np.maximum(1 - 2 * sb, 0))
    sky_span = np.maximum(out["horizon"] - 2 * sb, 0.0)
    out["sun_y"] = factor("sun_y", lambda: sb + u[:, c["sun_y"]] * sky_span)
    out["has_texture"] = factor("has_texture",
                                lambda: u[:, c["has_texture"]] < opts["p_texture"], bool)
    out["stripe_freq"] = factor("stripe_freq",
                                lambda: lerp("stripe_freq", opts["stripe_freq_range"]))
    out["stripe_angle"] = factor("stripe_angle", lambda: u[:, c["stripe_angle"]] * math.pi)
    return out


# ----------------------------------------------------------------------------- SDFs
# Signed distances (negative inside) of shapes centred at 0 in their own frame (y up),
# after Inigo Quilez's 2D distance functions. x, y: float32 [b, R, R]; s: [b, 1, 1].

def _norm(x, y):
    return np.sqrt(x * x + y * y)        # ~5x faster than np.hypot; no overflow at our scales


def _sd_circle(x, y, s):
    return _norm(x, y) - s


def _sd_square(x, y, s):
    qx, qy = np.abs(x) - s, np.abs(y) - s
    return _norm(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)


def _sd_triangle(x, y, s):
    r = s * (_SQRT3 / 2)                      # half side from circumradius
    x = np.abs(x) - r
    y = y + r / _SQRT3
    fold = x + _SQRT3 * y > 0
    x, y = (np.where(fold, (x - _SQRT3 * y) / 2, x), np.where(fold, (-_SQRT3 * x - y) / 2, y))
    x = x - np.clip(x, -2 * r, 0)
    return -_norm(x, y) * np.sign(y)


def _sd_hexagon(x, y, s):
    kx, ky, kz = -0.866025404, 0.5, 0.577350269
    r = s * (_SQRT3 / 2)                      # inradius from circumradius
    x, y = np.abs(x), np.abs(y)
    t = 2 * np.minimum(kx * x + ky * y, 0)
    x, y = x - t * kx, y - t * ky
    x = x - np.clip(x, -kz * r, kz * r)
    y = y - r
    return _norm(x, y) * np.sign(y)


def _sd_star(x, y, s):
    k1x, k1y = 0.809016994375, -0.587785252292
    x = np.abs(x)
    t = 2 * np.maximum(k1x * x + k1y * y, 0)
    x, y = x - t * k1x, y - t * k1y
    t = 2 * np.maximum(-k1x * x + k1y * y, 0)
    x, y = x + t * k1x, y - t * k1y
    x = np.abs(x)
    y = y - s
    bax, bay = _STAR_INNER * -k1y, _STAR_INNER * k1x - 1
    h = np.clip((x * bax + y * bay) / (bax * bax + bay * bay), 0, s)
    return _norm(x - bax * h, y - bay * h) * np.sign(y * bax - x * bay)


_SDF = dict(circle=_sd_circle, square=_sd_square, triangle=_sd_triangle,
            hexagon=_sd_hexagon, star=_sd_star)


def _coverage(d, resolution):
    """Analytic pixel coverage of the region ``d < 0`` (d in image-width units)."""
    return np.clip(np.float32(0.5) - d * np.float32(resolution), 0, 1)


def _render_chunk(f: dict, r: int) -> dict:
    b = len(f["shape"])
    g = (np.arange(r, dtype=np.float32) + 0.5) / r
    ys, xs = g[None, :, None], g[None, None, :]

    def col(name):
        return np.asarray(f[name], np.float32).reshape(b, 1, 1)

    cov_ground = _coverage(col("horizon") - ys, r)
    cov_sun = _coverage(_norm(xs - col("sun_x"), ys - col("sun_y")) - col("sun_radius"), r)
    cov_sun *= np.asarray(f["has_sun"], np.float32).reshape(b, 1, 1)

    dx, dy = xs - col("object_x"), ys - col("object_y")
    cos, sin = np.cos(col("rotation")), np.sin(col("rotation"))
    px, py = cos * dx + sin * dy, sin * dx - cos * dy        # rotate by -angle, flip y up
    scale = shape_scale(f["shape"], f["object_size"]).reshape(b, 1, 1)
    d_obj = np.empty((b, r, r), np.float32)
    shape = np.asarray(f["shape"])
    for k, name in enumerate(ALL_SHAPES):
        idx = np.flatnonzero(shape == k)
        if idx.size == 0:
            continue
        x, y = (np.broadcast_to(a, (b, r, r))[idx] for a in (px, py))
        d_obj[idx] = _SDF[name](x, y, scale[idx])
    cov_obj = _coverage(d_obj, r)

    freq, ang = col("stripe_freq"), col("stripe_angle")
    phase = (xs * np.cos(ang) + ys * np.sin(ang)) * freq
    phase -= np.float32(0.25)
    offset = phase - np.floor(phase) - np.float32(0.5)      # signed offset from band centre
    cov_tex = _coverage((np.abs(offset) - np.float32(0.25)) / freq, r)
    cov_tex *= np.asarray(f["has_texture"], np.float32).reshape(b, 1, 1)

    # Composite back to front, channel-first (contiguous [b, R, R] planes are faster).
    obj_col = np.asarray(f["object_color"], np.float32).T.reshape(3, b, 1, 1)
    sky_col = np.asarray(f["sky_color"], np.float32).T.reshape(3, b, 1, 1)
    ground_col = np.asarray(f["ground_color"], np.float32).T.reshape(3, b, 1, 1)
    img = np.empty((3, b, r, r), np.float32)
    for ch in range(3):
        p = img[ch]
        p[...] = sky_col[ch]
        p += (ground_col[ch] - p) * cov_ground
        p += (np.float32(SUN_COLOR[ch]) - p) * cov_sun
        obj = obj_col[ch] * (1 - np.float32(1 - STRIPE_DARKEN) * cov_tex)
        p += (obj - p) * cov_obj
    np.clip(img * np.float32(255) + np.float32(0.5), 0, 255.5, out=img)
    out = {"image": img.astype(np.uint8).transpose(1, 2, 3, 0)}    # floor = round half up
    m_obj = cov_obj > 0.5
    m_sun = (cov_sun > 0.5) & ~m_obj
    m_ground = (cov_ground > 0.5) & ~m_obj & ~m_sun
    out["mask_sky"] = ~(m_obj | m_sun | m_ground)
    out["mask_ground"] = m_ground
    out["mask_object"] = m_obj
    for k, name in enumerate(ALL_SHAPES):
        out[f"mask_{name}"] = m_obj & (shape == k).reshape(b, 1, 1)
    out["mask_sun"] = m_sun
    out["mask_texture"] = m_obj & (cov_tex > 0.5)
    return out


def render_factors(factors: dict, resolution: int = 32) -> dict:
    """Render scenes from explicit factors (e.g. edited output of :func:`sample_factors`).

    Args:
      factors: dict with at least the overridable factors (see :data:`FACTOR_NAMES`),
        each with first axis N.
      resolution: power of two in 16..256.

    Returns:
      dict: ``image`` uint8 [N, R, R, 3] and ``mask_<concept>`` bool [N, R, R] for each
      name in :data:`MASK_NAMES` (see the module docstring for the definitions).
    """
    r = _check_resolution(resolution)
    missing = [k for k in _OVERRIDABLE if k not in factors]
    if missing:
        raise ValueError(f"factors is missing {missing}")
    n = len(factors["shape"])
    if any(len(factors[k]) != n for k in _OVERRIDABLE):
        raise ValueError("all factor arrays must have the same length")
    out = {"image": np.empty((n, r, r, 3), np.uint8),
           **{f"mask_{m}": np.empty((n, r, r), bool) for m in MASK_NAMES}}
    chunk = max(1, _PIXEL_BUDGET // (r * r))
    for s in range(0, n, chunk):
        part = _render_chunk({k: np.asarray(factors[k])[s:s + chunk] for k in _OVERRIDABLE}, r)
        for k, v in part.items():
            out[k][s:s + chunk] = v
    return out


def render_shapes(n: int, resolution: int = 32, seed: int = 0, *, start: int = 0,
                  **factor_options) -> dict:
    """Sample and render ``n`` synthetic scenes.

    Args:
      n: number of images (>= 0).
      resolution: power of two in 16..256.
      seed: non-negative int; image ``i`` depends only on ``(seed, start + i)``, so
        ``render_shapes(a + b, seed=s)`` equals the concatenation of
        ``render_shapes(a, seed=s)`` and ``render_shapes(b, seed=s, start=a)``.
      start: index of the first image.
      **factor_options: see :func:`sample_factors`.

    Returns:
      dict of equal-length arrays: ``image`` uint8 [n, R, R, 3], every factor of
      :func:`sample_factors` and ``mask_<concept>`` bool [n, R, R] for :data:`MASK_NAMES`.
    """
    r = _check_resolution(resolution)
    factors = sample_factors(n, seed, start=start, **factor_options)
    rendered = render_factors(factors, r)
    return {"image": rendered.pop("image"), **factors, **rendered}


# ----------------------------------------------------------------------------- domains
#: Target-domain variants of the scenes (few-shot domain adaptation, ``jaxgan.domain``):
#: the same factors (layout, shapes, masks) drawn in a visibly different style.
#:
#: * ``'night'``: dark blue sky (hue 0.6-0.7, value 0.1-0.28) and dark ground (value ×0.35),
#:   objects and the sun (a moon now) unchanged;
#: * ``'inverted'``: every pixel ``255 - x`` (negative film);
#: * ``'stripes'``: every object striped (``has_texture`` forced on), sky and ground in
#:   sepia (grey level of the colour, tinted).
DOMAINS = ("night", "inverted", "stripes")


def domain_factors(factors: dict, domain: str) -> dict:
    """Factors of the same scenes in a target domain (layout untouched).

    Args:
      factors: output of :func:`sample_factors` (arrays with first axis N).
      domain: one of :data:`DOMAINS` (``'inverted'`` changes pixels, not factors: the
        factors come back unchanged; see :func:`apply_domain_to_images`).

    Returns:
      a new factor dict (colours float32 [N, 3] in [0, 1]).
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown shapes domain {domain!r}; expected one of {DOMAINS}")
    f = dict(factors)
    sky = np.asarray(f["sky_color"], np.float32)
    ground = np.asarray(f["ground_color"], np.float32)
    if domain == "night":
        # Re-use the sky colour's own variation (its value and saturation) for the night hue.
        t = (sky.max(axis=1) - sky.min(axis=1))[:, None]            # saturation-ish in [0, 1]
        lo, hi = np.array([0.03, 0.05, 0.2], np.float32), np.array([0.08, 0.1, 0.35], np.float32)
        f["sky_color"] = (lo + (hi - lo) * np.clip(t / 0.6, 0, 1)).astype(np.float32)
        f["ground_color"] = (ground * 0.35).astype(np.float32)
    elif domain == "stripes":
        f["has_texture"] = np.ones_like(np.asarray(f["has_texture"], bool))
        sepia = np.array([1.0, 0.8, 0.55], np.float32)
        f["sky_color"] = (sky.mean(axis=1, keepdims=True) * sepia).astype(np.float32)
        f["ground_color"] = (ground.mean(axis=1, keepdims=True) * sepia * 0.8).astype(np.float32)
    return f


def apply_domain_to_images(images: np.ndarray, domain: str) -> np.ndarray:
    """The pixel part of a domain: ``'inverted'`` -> ``255 - images``; others unchanged.

    Args:
      images: uint8 ``[N, R, R, 3]``.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown shapes domain {domain!r}; expected one of {DOMAINS}")
    images = np.asarray(images)
    return (255 - images).astype(np.uint8) if domain == "inverted" else images


def render_domain(n: int, resolution: int = 32, seed: int = 0, *, domain: str, start: int = 0,
                  **factor_options) -> dict:
    """:func:`render_shapes` in a target domain: the same scenes (factors, masks) as
    ``render_shapes(n, resolution, seed, start=start, **factor_options)``, redrawn in
    ``domain`` (see :data:`DOMAINS`).

    Returns:
      the :func:`render_shapes` dict, with ``image`` (and changed factors) of the domain.
    """
    r = _check_resolution(resolution)
    factors = domain_factors(sample_factors(n, seed, start=start, **factor_options), domain)
    rendered = render_factors(factors, r)
    rendered["image"] = apply_domain_to_images(rendered["image"], domain)
    return {"image": rendered.pop("image"), **factors, **rendered}
