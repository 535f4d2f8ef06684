"""AttFind (Lang et al. 2021, the official notebook's semantics) as a few big batched kernels.

StyleSpace coordinates are every channel of every style vector of the (classifier-
conditioned) generator, flattened in the order of :func:`style_layout`. For images with
styles ``s [N, S]`` (S coordinates) and the dataset's per-coordinate ``min``/``max``:

* **effect tensor** ``E [N, 2, S, K]``: for image n, direction d (0: toward min, 1: toward
  max) and coordinate j, set ``s_j <- s_j + shift * (target_d,j - s_j)`` (default ``shift`` 2,
  the notebook's ``shift_size``), regenerate (const noise), classify, and record
  ``C(changed) - C(base)`` in probabilities (``measure='prob'``, the notebook's) or logits.
  Computed in blocks (:func:`make_effect_fn`): each jitted call takes a block of images
  x a block of (direction, coordinate) edits, about ``chunk`` renders in all (``vmap`` of a
  one-row edit), so memory stays bounded for any N; the image axis is sharded over a mesh.
* **unstable images**: those whose regenerated class ``argmax C(G(s))`` differs from the
  class they were conditioned on are dropped.
* **selection** (:func:`find_significant_styles`): for class k, among images currently of
  another class, repeatedly pick the (direction, coordinate) with the largest mean positive
  effect on class k over the images whose cumulative effect is still below
  ``max_image_effect``; optionally reject candidates whose changed images the discriminator
  scores below ``disc_threshold``. :func:`merge_two_class` joins the two rankings of a
  binary classifier (an attribute that raises class 1 lowers class 0 in the opposite
  direction).

:func:`attfind_effects_loop` is the per-coordinate Python loop (one jitted call per
coordinate and direction, as the PyTorch re-implementations), kept as the reference and the
benchmark's baseline.

**On a mesh** (``mesh=``, a mesh with a ``'data'`` axis from
:func:`jaxgan.sharding.make_data_mesh`, possibly spanning processes; default
:func:`jaxgan.sharding.one_device_mesh`, so one code path serves one device, several devices
and several processes): the IMAGE axis is sharded. Each process passes its own contiguous
rows of the image set (process 0 first, equal counts: :func:`jaxgan.sharding.process_rows`);
:func:`style_min_max` reduces over all processes' images, :func:`base_outputs` and
:func:`attfind_effects` render every image on its own process in blocks
(:func:`jaxgan.sharding.row_blocks`) and return the whole ``[N, ...]`` result, gathered, on
every process, so the greedy selection that follows sees every image. Results equal the
single-device ones up to float reassociation.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgan import model
from jaxgan.sharding import (DATA_AXIS, block_size, join_blocks, mesh_processes, process_rows,
                             replicated, resolve_mesh, row_blocks, to_host)


class StyleLayout(NamedTuple):
    """Flattening of a StyleSpace pytree: entries ``(block, layer, size)`` in order."""
    entries: tuple[tuple[str, str, int], ...]

    @property
    def size(self) -> int:
        return sum(e[2] for e in self.entries)

    def name(self, j: int) -> str:
        """``'b16.conv1[12]'`` for flat coordinate ``j``."""
        off = 0
        for b, l, n in self.entries:
            if j < off + n:
                return f"{b}.{l}[{j - off}]"
            off += n
        raise IndexError(f"coordinate {j} >= {self.size}")

    def locate(self, j: int) -> tuple[str, str, int]:
        off = 0
        for b, l, n in self.entries:
            if j < off + n:
                return b, l, j - off
            off += n
        raise IndexError(f"coordinate {j} >= {self.size}")


def layer_coords(layout: StyleLayout, layers) -> np.ndarray:
    """Flat coordinates of the style vectors whose layer kind (``'conv0'``, ``'conv1'``,
    ``'torgb'``) or ``'block.layer'`` name (``'b8.conv1'``) is in ``layers``.

    Returns:
      sorted ``[M]`` int array.

    Raises:
      ValueError: a name matches no style vector of the layout.
    """
    wanted = set(layers)
    known = {l for _, l, _ in layout.entries} | {f"{b}.{l}" for b, l, _ in layout.entries}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"AttFind layers {unknown} match no style vector; this generator has "
                         f"{sorted(known)}")
    out, off = [], 0
    for b, l, n in layout.entries:
        if l in wanted or f"{b}.{l}" in wanted:
            out.extend(range(off, off + n))
        off += n
    return np.asarray(out, int)


def style_layout(styles) -> StyleLayout:
    """Layout of a styles pytree ``{f'b{res}': {layer: [N, C]}}`` (resolution, then layer order
    conv0, conv1, torgb)."""
    order = {"conv0": 0, "conv1": 1, "torgb": 2}
    blocks = sorted(styles, key=lambda b: int(b[1:]))
    return StyleLayout(tuple((b, l, int(styles[b][l].shape[-1]))
                             for b in blocks for l in sorted(styles[b], key=lambda x: order.get(x, 9))))


def flatten_styles(styles, layout: StyleLayout):
    """styles pytree -> ``[N, S]``."""
    return jnp.concatenate([styles[b][l] for b, l, _ in layout.entries], axis=-1)


def unflatten_styles(flat, layout: StyleLayout):
    """``[N, S]`` -> styles pytree."""
    out, off = {}, 0
    for b, l, n in layout.entries:
        out.setdefault(b, {})[l] = flat[..., off:off + n]
        off += n
    return out


class AttFindModel(NamedTuple):
    """What AttFind needs: ``render(styles_flat [B, S]) -> images`` and
    ``classify(images) -> logits [B, K]`` (pure, closing over frozen networks)."""
    render: Callable
    classify: Callable
    layout: StyleLayout


def make_attfind_model(G, g_vars, classifier_fn: Callable, layout: StyleLayout) -> AttFindModel:
    """Bind a (conditioned) generator and a classifier ``images -> logits`` into an
    :class:`AttFindModel` (const noise, as the notebook's ``randomize_noise=False``).

    Both are jitted: called eagerly, e.g. for a report's strips and counterfactuals, they
    run as one compiled program per batch shape instead of op by op (which compiled ~980
    small programs for one ``explain report``); inside a caller's ``jit`` they are inlined.
    The generator's variables are an argument of its program (not constants baked into
    it); ``classifier_fn`` is jitted as given."""
    @jax.jit
    def synth(gv, flat):
        return model.synthesize(G, gv, styles=unflatten_styles(flat, layout), noise_mode="const")

    def render(flat):
        return synth(g_vars, flat)
    return AttFindModel(render, jax.jit(classifier_fn), layout)


def _measure(logits, measure: str):
    if measure == "prob":
        return jax.nn.softmax(logits, axis=-1)
    if measure == "logit":
        return logits
    raise ValueError(f"measure must be 'prob' or 'logit', got {measure!r}")


def _mesh_and_rows(mesh):
    """The mesh AttFind runs on (default: one device) and the number of its processes."""
    mesh = resolve_mesh(mesh)
    return mesh, mesh_processes(mesh)[1]


def style_min_max(flat_styles, mesh=None, block: int = 4096):
    """Per-coordinate dataset minimum and maximum ``([S], [S])``.

    Args:
      flat_styles: ``[N, S]``: this process's rows (module docstring).
      mesh: the mesh (default one device): the extremes are over every process's images.
      block: images reduced per call.
    """
    mesh, procs = _mesh_and_rows(mesh)
    flat = np.asarray(flat_styles, np.float32)
    fn = jax.jit(lambda x: (jnp.min(x, 0), jnp.max(x, 0)), out_shardings=replicated(mesh))
    parts = [to_host(fn(b)) for b in row_blocks(flat, mesh, block_size(len(flat) * procs,
                                                                        block, mesh))]
    return (np.min([p[0] for p in parts], 0).astype(np.float32),
            np.max([p[1] for p in parts], 0).astype(np.float32))


def base_outputs(m: AttFindModel, flat_styles, measure: str = "prob", batch: int = 256,
                 mesh=None):
    """``C(G(s))`` for every image: ``(measure [N, K], logits [N, K])``, in blocks of about
    ``batch`` images sharded over ``mesh`` (default one device).

    ``flat_styles`` are this process's rows; the outputs are every process's ``[N_global, K]``.
    """
    mesh, procs = _mesh_and_rows(mesh)
    flat = np.asarray(flat_styles, np.float32)
    sh = NamedSharding(mesh, P(DATA_AXIS))
    fn = jax.jit(lambda s: m.classify(m.render(s)), in_shardings=sh, out_shardings=sh)
    parts = [to_host(fn(b)) for b in row_blocks(flat, mesh, block_size(len(flat) * procs,
                                                                        batch, mesh))]
    logits = join_blocks(parts, len(flat), mesh)
    return np.asarray(_measure(jnp.asarray(logits), measure)), logits


def _edit_row(row, j, target, shift):
    """One image's styles with coordinate ``j`` moved ``shift`` of the way to ``target``."""
    return row.at[j].add(shift * (target - row[j]))


def make_effect_fn(m: AttFindModel, smin, smax, shift: float, measure: str, mesh=None):
    """The effect kernel, jitted: ``(flat [n, S], base [n, K], d_idx [b], j_idx [b]) ->
    [n, b, K]``: a block of n images, each with each of b single-coordinate edits (direction
    ``d_idx``, coordinate ``j_idx``); the image axis sharded over ``mesh``'s data axis
    (default one device; pass the mesh :func:`attfind_effects` gets)."""
    mesh = resolve_mesh(mesh)
    smin, smax = jnp.asarray(smin), jnp.asarray(smax)
    data, repl = NamedSharding(mesh, P(DATA_AXIS)), replicated(mesh)

    def fn(flat, base, d_idx, j_idx):
        n, s = flat.shape
        b = d_idx.shape[0]
        target = jnp.where(d_idx == 0, smin[j_idx], smax[j_idx])           # [b]
        rows = jax.vmap(lambda row: jax.vmap(_edit_row, in_axes=(None, 0, 0, None))(
            row, j_idx, target, shift))(flat)                               # [n, b, S]
        out = _measure(m.classify(m.render(rows.reshape(n * b, s))), measure)
        return out.reshape(n, b, -1) - base[:, None]                       # [n, b, K]
    return jax.jit(fn, in_shardings=(data, data, repl, repl), out_shardings=data)


def make_sharded_effect_fn(m: AttFindModel, smin, smax, shift: float, measure: str, mesh):
    """Deprecated alias of :func:`make_effect_fn` (``mesh`` given)."""
    warnings.warn("make_sharded_effect_fn is deprecated: use make_effect_fn(..., mesh=mesh)",
                  DeprecationWarning, stacklevel=2)
    return make_effect_fn(m, smin, smax, shift, measure, mesh)


def effect_blocks(n: int, edits: int, chunk: int, mesh) -> tuple[int, int]:
    """``(images, edits)`` per kernel call for ``n`` global images and ``edits`` (direction,
    coordinate) pairs: about ``chunk`` renders per call (all images x ``chunk // n`` edits
    when ``n <= chunk``, else blocks of at most ``chunk`` images x 1 edit), the image block a
    multiple of the data axis (:func:`jaxgan.sharding.block_size`)."""
    nb = block_size(n, chunk, mesh)
    return nb, min(edits, max(1, chunk // nb))


def attfind_effects(m: AttFindModel, flat_styles, *, smin=None, smax=None, shift: float = 2.0,
                    measure: str = "prob", chunk: int = 512, coords: Sequence[int] | None = None,
                    base=None, sharding=None, progress: bool = True, effect_fn=None, mesh=None):
    """The effect tensor ``[N, 2, S', K]`` in blocks of images x edits (module docstring).

    Args:
      m: the bound generator/classifier.
      flat_styles: ``[N, S]`` styles of the images (this process's rows).
      smin, smax: per-coordinate dataset extremes (default: over every process's images).
      shift: ``s + shift * (extreme - s)``: 1 = the extreme itself; 2 (default) = the
        official notebook's ``shift_size``, twice as far.
      measure: 'prob' (the notebook's) or 'logit'.
      chunk: images rendered per call, about (:func:`effect_blocks`; the last image and edit
        blocks are padded, so one compilation).
      coords: only these coordinates (``S' = len(coords)``); default all.
      base: precomputed ``measure`` of the unchanged images ``[N, K]`` (this process's rows).
      sharding: deprecated; a ``NamedSharding`` whose mesh is used as ``mesh``.
      progress: tqdm bar.
      effect_fn: a prebuilt :func:`make_effect_fn` for the same mesh (reused across calls:
        no recompilation).
      mesh: the mesh whose ``'data'`` axis shards the image blocks, possibly across
        processes (module docstring); default one device.

    Returns:
      NumPy ``[N, 2, S', K]`` (every process's images, on every process).
    """
    flat = np.asarray(flat_styles, np.float32)
    if flat.ndim != 2 or flat.shape[1] != m.layout.size or not len(flat):
        raise ValueError(f"attfind: flat styles must be [N >= 1, {m.layout.size}], got "
                         f"{flat.shape}")
    if not np.all(np.isfinite(flat)):
        raise ValueError("attfind: styles contain NaN/Inf")
    if sharding is not None:
        warnings.warn("attfind_effects(sharding=) is deprecated: pass mesh=", DeprecationWarning,
                      stacklevel=2)
        if mesh is None:
            mesh = getattr(sharding, "mesh", None)
            if mesh is None:
                raise ValueError("attfind: sharding= must be a NamedSharding; pass mesh=")
    mesh, procs = _mesh_and_rows(mesh)
    n_local, s = flat.shape
    n = n_local * procs
    if smin is None or smax is None:
        smin, smax = style_min_max(flat, mesh)
    if base is None:
        base = base_outputs(m, flat, measure, mesh=mesh)[0]
        base = base[process_rows(n, *mesh_processes(mesh))]
    base = np.asarray(base, np.float32)
    if base.shape[0] != n_local:
        raise ValueError(f"attfind: base must hold this process's {n_local} rows, got "
                         f"{base.shape[0]}")
    coords = np.arange(s) if coords is None else np.asarray(coords, np.int64)
    fn = effect_fn if effect_fn is not None else make_effect_fn(m, smin, smax, shift, measure,
                                                                mesh)
    dd, jj = (a.ravel() for a in np.meshgrid(np.arange(2), np.arange(len(coords)), indexing="ij"))
    edits, k_out = len(dd), base.shape[1]
    nb, b = effect_blocks(n, edits, chunk, mesh)
    calls = -(-n_local // (nb // procs)) * -(-edits // b)
    parts = []
    with tqdm(total=calls, desc="AttFind effects", unit="call",
              disable=not (progress and jax.process_index() == 0)) as bar:
        for block in row_blocks({"flat": flat, "base": base}, mesh, nb):
            out = np.zeros((nb, edits, k_out), np.float32)
            for start in range(0, edits, b):
                sl = slice(start, min(start + b, edits))
                k = sl.stop - sl.start
                pad = lambda a: np.concatenate([a, np.zeros(b - k, a.dtype)]) if k < b else a  # noqa: E731
                res = fn(block["flat"], block["base"], pad(dd[sl]), pad(coords[jj[sl]]))
                out[:, sl] = np.asarray(to_host(res))[:, :k]
                bar.update()
            parts.append(out)
    return join_blocks(parts, n_local, mesh).reshape(n, 2, len(coords), k_out)


def make_loop_fn(m: AttFindModel, flat_styles, base, shift: float, measure: str):
    """Jitted ``(coordinate j, target) -> [N, K]``: every image with coordinate ``j`` moved."""
    flat = jnp.asarray(flat_styles, jnp.float32)
    base = jnp.asarray(base)

    @jax.jit
    def one(j, target):
        rows = flat.at[:, j].add(shift * (target - flat[:, j]))
        return _measure(m.classify(m.render(rows)), measure) - base
    return one


def attfind_effects_loop(m: AttFindModel, flat_styles, *, smin=None, smax=None,
                         shift: float = 2.0, measure: str = "prob",
                         coords: Sequence[int] | None = None, base=None, progress: bool = False,
                         loop_fn=None):
    """Reference/baseline: a Python loop over coordinates and directions, one jitted call
    (all images as a batch) each — the per-coordinate loop of the PyTorch re-implementations.

    ``loop_fn``: a prebuilt :func:`make_loop_fn` (reused: no recompilation).

    Returns:
      NumPy ``[N, 2, S', K]`` (same as :func:`attfind_effects`).
    """
    flat = jnp.asarray(flat_styles, jnp.float32)
    if smin is None or smax is None:
        smin, smax = style_min_max(flat)
    if base is None:
        base = base_outputs(m, flat, measure)[0]
    coords = np.arange(flat.shape[1]) if coords is None else np.asarray(coords)
    one = loop_fn if loop_fn is not None else make_loop_fn(m, flat, base, shift, measure)
    out = np.zeros((flat.shape[0], 2, len(coords), np.shape(base)[1]), np.float32)
    for i, j in enumerate(tqdm(coords, desc="AttFind (loop)", disable=not progress)):
        out[:, 0, i] = np.asarray(one(int(j), float(smin[j])))
        out[:, 1, i] = np.asarray(one(int(j), float(smax[j])))
    return out


def linear_screen(m: AttFindModel, flat_styles, smin, smax, shift: float = 2.0,
                  measure: str = "prob", num: int = 64, batch: int = 64, among=None):
    """Optional first-order pre-screen: rank coordinates by the linearised effect
    ``J[n, k, j] * shift * (target_d,j - s_n,j)`` (one Jacobian per image instead of ``2 S``
    renders) and return the ``num`` coordinates with the largest mean absolute linear effect
    (max over direction and class). Exact AttFind then runs on those only (``coords=``).
    ``among``: optional candidate coordinates (e.g. :func:`layer_coords`); the others are
    never returned.

    Returns:
      ``(coords [num] int, score [S])``.
    """
    flat = jnp.asarray(flat_styles, jnp.float32)
    smin, smax = jnp.asarray(smin), jnp.asarray(smax)
    f = lambda row: _measure(m.classify(m.render(row[None])), measure)[0]  # noqa: E731
    jac = jax.jit(jax.vmap(jax.jacrev(f)))                                 # [B, K, S]

    acc = None
    for i in range(0, flat.shape[0], batch):
        rows = flat[i:i + batch]
        jm = jac(rows)                                                     # [B, K, S]
        d0 = shift * (smin[None] - rows)                                   # [B, S]
        d1 = shift * (smax[None] - rows)
        lin = jnp.stack([jm * d0[:, None], jm * d1[:, None]], 1)           # [B, 2, K, S]
        part = jnp.sum(jnp.abs(lin), axis=0)                               # [2, K, S]
        acc = part if acc is None else acc + part
    score = np.asarray(jnp.max(acc, axis=(0, 1))) / flat.shape[0]         # [S]
    cand = np.arange(score.size) if among is None else np.asarray(among, int)
    coords = cand[np.argsort(-score[cand])[:num]]
    return np.sort(coords), score


def stable_mask(base_logits, cond_logits):
    """Images whose regenerated class equals the class they were conditioned on ``[N]`` bool."""
    return np.argmax(np.asarray(base_logits), -1) == np.argmax(np.asarray(cond_logits), -1)


def find_significant_styles(effect, labels, class_index: int, num_indices: int = 8,
                            max_image_effect: float = 0.2, reject: Callable | None = None):
    """Greedy top-k (direction, coordinate) for one class (the notebook's
    ``find_significant_styles``).

    Args:
      effect: ``[N, 2, S, K]`` effect tensor (stable images only).
      labels: ``[N]`` current classes of the images; only images of another class than
        ``class_index`` are used (the shifts should move them toward it).
      class_index: the class k.
      num_indices: how many to select.
      max_image_effect: an image whose cumulative effect on class k reached this cap no
        longer votes.
      reject: optional ``(direction, coordinate) -> bool`` (e.g. the discriminator filter);
        rejected candidates are skipped.

    Returns:
      list of ``(direction, coordinate, mean_effect)`` in selection order.
    """
    effect = np.asarray(effect)
    sel = np.asarray(labels) != class_index
    if not sel.any():                      # no image of another class to move toward k
        return []
    e = np.maximum(0.0, effect[sel][..., class_index]).reshape(int(sel.sum()), -1)   # [M, 2S]
    s = effect.shape[2]
    image_effect = np.zeros(e.shape[0])
    out = []
    while len(out) < num_indices:
        active = image_effect < max_image_effect
        if not active.any() or not e.any():
            break
        mean = e[active].mean(axis=0)
        idx = int(np.argmax(mean))
        if mean[idx] <= 0:
            break
        d, j = divmod(idx, s)
        score = float(mean[idx])
        column = e[:, idx].copy()
        e[:, idx] = 0.0
        if reject is not None and reject(d, j):
            continue
        image_effect += column
        out.append((int(d), int(j), score))
    return out


def merge_two_class(sel0, sel1, k: int | None = None):
    """Two-class merged ranking: class c's list, then the other class's attributes in the
    opposite direction (coordinates not already present), as the notebook.

    Returns:
      ``{0: [(direction, coordinate, score), ...], 1: [...]}``.
    """
    def join(a, b):
        seen = {j for _, j, _ in a}
        out = list(a) + [(1 - d, j, sc) for d, j, sc in b if j not in seen]
        return out[:k] if k else out
    return {0: join(sel0, sel1), 1: join(sel1, sel0)}


def discriminator_filter(render, disc_fn, flat_styles, smin, smax, shift: float,
                         threshold: float, max_images: int = 32):
    """A ``reject(direction, coordinate)`` for :func:`find_significant_styles`: True when the
    mean discriminator score of the changed images falls below ``threshold`` (artefacts)."""
    flat = jnp.asarray(flat_styles[:max_images], jnp.float32)

    @jax.jit
    def score(j, target):
        rows = flat.at[:, j].add(shift * (target - flat[:, j]))
        return jnp.mean(disc_fn(render(rows)))

    def reject(d, j):
        t = float(smin[j] if d == 0 else smax[j])
        return float(score(j, t)) < threshold
    return reject


def apply_attributes(flat_styles, attrs, smin, smax, shift: float):
    """Apply several (direction, coordinate) changes at once (for flip rates / pictures).

    Args:
      flat_styles: ``[N, S]``; attrs: iterable of ``(direction, coordinate, ...)``.

    Returns:
      ``[N, S]``.
    """
    flat = jnp.asarray(flat_styles)
    for a in attrs:
        d, j = int(a[0]), int(a[1])
        target = smin[j] if d == 0 else smax[j]
        flat = flat.at[:, j].add(shift * (target - flat[:, j]))
    return flat
