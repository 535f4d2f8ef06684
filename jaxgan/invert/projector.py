"""Optimisation inversion G^-1 in Z, W, W+ or StyleSpace: a batch in one jitted program.

The defaults are NVIDIA's ``projector.py`` (stylegan2-ada-pytorch): 1000 Adam steps
(betas 0.9/0.999) with learning rate 0.1 ramped up over the first 5% and down over the last
25% of the steps (cosine), the latent started at the mean of 10000 mapped samples, Gaussian
latent noise of ``0.05 * std`` ramped out (quadratically) over the first 75% of the steps,
per-layer noise maps optimised with the multi-scale autocorrelation regulariser (weight 1e5)
and renormalised after each step. ``std`` is the official ``w_std``: the square root of the
summed per-coordinate variance of the samples. The distance is LPIPS (real VGG16 weights)
plus optional pixel L1/L2 (:class:`~jaxgan.invert.losses.DistanceWeights`); optionally
L-BFGS (``optax.lbfgs``, deterministic loss: no latent noise, no noise maps).

Batching: the whole optimisation of ONE image (its own latent, noise maps and optimiser
state, its randomness from ``fold_in(key, index)``) is a ``lax.scan``; ``vmap`` lifts it to
N images and ``jit`` compiles the lot once, so image i of a batch gets what inverting it
alone with the same index gets (up to float reassociation). The batch axis is sharded over
a data mesh, a one-device mesh by default (:func:`jaxgan.sharding.resolve_mesh`): the same
program runs on one device and across the devices of several processes.

The same machinery runs degradation-aware inversion (a differentiable ``degrade`` applied
to G(w) before the distance, a per-pixel weight map) and in-domain inversion (an encoder
initialisation and the ``domain_weight * mean((w - E(G(w)))**2)`` term): see
:mod:`jaxgan.invert.restore` and :mod:`jaxgan.invert.indomain`.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgan import model
from jaxgan.sharding import (DATA_AXIS, global_rows, mesh_processes, process_rows, replicate,
                             resolve_mesh)
from jaxgan.invert.losses import (DistanceWeights, image_distance, noise_regularizer,
                                  normalize_noise)
from jaxgan.invert.stats import SPACES, class_means, latent_stats  # noqa: F401  (re-exported)
from jaxgan.progress import report_step

OPTIMIZERS = ("adam", "lbfgs")
NOISE_INITS = ("random", "const")


@dataclasses.dataclass(frozen=True)
class ProjectConfig:
    """Inversion settings (frozen, hashable). Defaults: NVIDIA's ``projector.py``.

    Attributes:
      space: 'z' | 'w' (one w for all layers) | 'wplus' (one w per layer) | 's' (StyleSpace).
      num_steps: optimisation steps.
      optimizer: 'adam' or 'lbfgs'.
      initial_learning_rate, lr_rampup_length, lr_rampdown_length: Adam schedule (fractions
        of ``num_steps``; 0 disables a ramp).
      initial_noise_factor, noise_ramp_length: latent noise ``std * factor * max(0, 1 -
        t / ramp)**2`` at progress ``t``.
      regularize_noise_weight: weight of :func:`~jaxgan.invert.losses.noise_regularizer`.
      optimize_noise: optimise the per-layer noise maps (else they stay at their init).
      noise_init: 'random' (N(0, 1), normalised; the projector's) or 'const' (G's buffers).
      w_avg_samples: samples for the start point and ``std``.
      distance: the reconstruction distance weights.
      domain_weight: weight of the in-domain term ``mean((ws - E(G(ws)))**2)`` (needs an
        encoder; not for 's').
    """
    space: str = "w"
    num_steps: int = 1000
    optimizer: str = "adam"
    initial_learning_rate: float = 0.1
    lr_rampup_length: float = 0.05
    lr_rampdown_length: float = 0.25
    initial_noise_factor: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    optimize_noise: bool = True
    noise_init: str = "random"
    w_avg_samples: int = 10000
    distance: DistanceWeights = DistanceWeights()
    domain_weight: float = 0.0

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"ProjectConfig.space must be one of {SPACES}, got {self.space!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"ProjectConfig.optimizer must be one of {OPTIMIZERS}, "
                             f"got {self.optimizer!r}")
        if self.noise_init not in NOISE_INITS:
            raise ValueError(f"ProjectConfig.noise_init must be one of {NOISE_INITS}, "
                             f"got {self.noise_init!r}")
        if not (isinstance(self.num_steps, int) and self.num_steps >= 1):
            raise ValueError(f"ProjectConfig.num_steps must be an int >= 1, got {self.num_steps!r}")
        if self.optimizer == "lbfgs" and self.optimize_noise:
            raise ValueError("ProjectConfig: optimizer='lbfgs' needs optimize_noise=False "
                             "(its line search needs a deterministic loss)")
        if self.domain_weight and self.space == "s":
            raise ValueError("ProjectConfig: domain_weight needs a W-type space (z, w, wplus)")
        if self.w_avg_samples < 2:
            raise ValueError(f"ProjectConfig.w_avg_samples must be >= 2, got {self.w_avg_samples}")

    def replace(self, **kw) -> "ProjectConfig":
        """A copy with fields replaced (``distance`` may be given as a dict)."""
        if isinstance(kw.get("distance"), dict):
            kw["distance"] = dataclasses.replace(self.distance, **kw["distance"])
        return dataclasses.replace(self, **kw)


class ProjectionResult(NamedTuple):
    """What :func:`project` returns (leading axis N everywhere).

    Attributes:
      latent: the optimised latent in ``cfg.space`` (``[N, z_dim]``, ``[N, w_dim]``,
        ``[N, num_ws, w_dim]`` or a StyleSpace pytree of ``[N, C]``).
      ws: ``[N, num_ws, w_dim]`` (None for 's').
      noise: noise maps ``{f'b{res}': {layer: [N, H, W]}}`` (pass as ``synthesize(noise=)``).
      images: ``[N, R, R, C]`` G(latent, noise), no latent noise.
      loss: ``[N]`` final objective (no latent noise); dist: ``[N]`` its distance term.
      curve: ``[N, num_steps]`` objective per step; dist_curve: its distance term.
    """
    latent: Any
    ws: Any
    noise: Any
    images: Any
    loss: Any
    dist: Any
    curve: Any
    dist_curve: Any


# ----------------------------------------------------------------------------- schedules

def learning_rate(step, cfg: ProjectConfig):
    """The projector's learning rate at ``step`` (0-based): cosine ramps on ``t = step / T``."""
    t = jnp.asarray(step, jnp.float32) / cfg.num_steps
    ramp = jnp.float32(1)
    if cfg.lr_rampdown_length > 0:
        ramp = jnp.minimum(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * jnp.cos(ramp * jnp.pi)
    if cfg.lr_rampup_length > 0:
        ramp = ramp * jnp.minimum(1.0, t / cfg.lr_rampup_length)
    return cfg.initial_learning_rate * ramp


def latent_noise_scale(step, cfg: ProjectConfig):
    """Latent noise factor at ``step``: ``initial_noise_factor * max(0, 1 - t / ramp)**2``
    (multiply by the space's ``std``)."""
    if cfg.initial_noise_factor == 0 or cfg.noise_ramp_length <= 0:
        return jnp.float32(0)
    t = jnp.asarray(step, jnp.float32) / cfg.num_steps
    return cfg.initial_noise_factor * jnp.maximum(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2


# ----------------------------------------------------------------------------- spaces

def latent_from_ws(G, g, space: str, ws):
    """Express W+ codes ``[N, num_ws, w_dim]`` in ``space`` (an init for :func:`project`).

    'w' averages the layers, 'wplus' is the identity, 's' applies the affines; 'z' has no
    inverse map and raises.
    """
    cfg = G.cfg
    ws = jnp.asarray(ws, jnp.float32)
    if ws.ndim != 3 or ws.shape[1:] != (cfg.num_ws, cfg.w_dim):
        raise ValueError(f"latent_from_ws: ws must be [N, {cfg.num_ws}, {cfg.w_dim}], "
                         f"got {ws.shape}")
    if space == "w":
        return jnp.mean(ws, axis=1)
    if space == "wplus":
        return ws
    if space == "s":
        return model.styles(G, g, ws)
    raise ValueError(f"latent_from_ws: cannot express ws in space {space!r}")


def latent_to_ws(G, g, space: str, latent, c=None):
    """One image's latent (and, for 'z' with a conditional G, its condition ``c``
    ``[c_dim]``) -> ws ``[num_ws, w_dim]`` (None for 's')."""
    cfg = G.cfg
    if space == "z":
        return model.mapping(G, g, latent[None], None if c is None else c[None])[0]
    if space == "w":
        return jnp.broadcast_to(latent, (cfg.num_ws, cfg.w_dim))
    if space == "wplus":
        return latent
    return None


def noise_template(g):
    """G's noise buffers as an explicit-noise pytree ``{f'b{res}': {layer: [H, W]}}``."""
    syn = g["buffers"]["synthesis"]
    return {b: {layer: v["noise_const"] for layer, v in layers.items() if "noise_const" in v}
            for b, layers in syn.items()}


def render_one(G, g, space, latent, noise, c=None):
    """One image's latent + noise maps (+ condition ``[c_dim]`` for 'z') -> ``[1, R, R, C]``."""
    nz = jax.tree.map(lambda n: n[None], noise)
    if space == "s":
        return model.synthesize(G, g, styles=jax.tree.map(lambda s: s[None], latent), noise=nz)
    return model.synthesize(G, g, latent_to_ws(G, g, space, latent, c)[None], noise=nz)


def _check_shape(name, tree, want):
    got_l, got_t = jax.tree.flatten(tree)
    want_l, want_t = jax.tree.flatten(want)
    got_s = [tuple(jnp.shape(a)) for a in got_l]
    want_s = [tuple(jnp.shape(a)) for a in want_l]
    if got_t != want_t or any(a[1:] != b for a, b in zip(got_s, want_s)):
        raise ValueError(f"project: {name} has shapes {got_s}; expected [N] + each of {want_s}")


# ----------------------------------------------------------------------------- projector

class _Fixed(NamedTuple):
    """What stays fixed while one image's latent is optimised (closed over by the step)."""
    g: Any                 # the generator's variables
    std: Any               # the latent-noise scale (latent_stats()[1])
    lp: Any                # LPIPS weights or None
    e_vars: Any            # encoder variables (domain term) or None
    noise: Any             # the noise maps used when they are not optimised
    target: Any            # [R, R, C]
    weight: Any            # [h, w] pixel weights or None
    c: Any                 # [c_dim] or None


def _objective(G, cfg: ProjectConfig, degrade, E, params, fx: _Fixed, key, scale):
    """One image's loss and ``(distance, image)``: the (noisy) latent rendered, degraded and
    compared to the target, plus the noise regulariser and the in-domain term."""
    space = cfg.space
    latent = params["latent"]
    noise = params["noise"] if cfg.optimize_noise else fx.noise
    if cfg.optimizer == "adam" and cfg.initial_noise_factor:
        leaves, tdef = jax.tree.flatten(latent)
        ks = jax.random.split(key, len(leaves))
        stds = jax.tree.leaves(fx.std) if space == "s" else [fx.std] * len(leaves)
        noisy = jax.tree.unflatten(tdef, [
            l + jax.random.normal(k, l.shape) * s * scale
            for l, k, s in zip(leaves, ks, stds)])
    else:
        noisy = latent
    img = render_one(G, fx.g, space, noisy, noise, fx.c)                     # [1, R, R, C]
    obs = degrade(img) if degrade is not None else img
    dist = image_distance(obs, fx.target[None], cfg.distance, fx.lp,
                          None if fx.weight is None else fx.weight[None])[0]
    total = dist
    if cfg.optimize_noise:
        total = total + cfg.regularize_noise_weight * noise_regularizer(noise)
    if cfg.domain_weight:
        ws = latent_to_ws(G, fx.g, space, noisy, fx.c)                      # [num_ws, w_dim]
        rec = model.encode(E, fx.e_vars, img, fx.g["buffers"]["mapping"]["w_avg"])[0]
        total = total + cfg.domain_weight * jnp.mean(jnp.square(ws - rec))
    return total, (dist, img)


def _initial_noise(cfg: ProjectConfig, g, key):
    """The noise maps an image starts from: the constant buffers, or normalised random maps."""
    template = noise_template(g)
    if cfg.noise_init != "random":
        return template
    leaves, tdef = jax.tree.flatten(template)
    ks = jax.random.split(key, len(leaves))
    return normalize_noise(jax.tree.unflatten(
        tdef, [jax.random.normal(k, n.shape) for k, n in zip(ks, leaves)]))


def _adam_step(cfg: ProjectConfig, f, k_steps, tick):
    """``scan`` step of the Adam projector (the official schedule and latent noise)."""
    opt = optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)

    def step(carry, i):
        p, s = carry
        (loss, (dist, _)), grads = jax.value_and_grad(f, has_aux=True)(
            p, jax.random.fold_in(k_steps, i), latent_noise_scale(i, cfg))
        upd, s = opt.update(grads, s, p)
        lr = learning_rate(i, cfg)
        p = jax.tree.map(lambda a, u: a - lr * u, p, upd)
        if cfg.optimize_noise:
            p = {**p, "noise": normalize_noise(p["noise"])}
        tick(i)
        return (p, s), (loss, dist)
    return opt, step


def _lbfgs_step(f, k_steps, tick):
    """``scan`` step of the L-BFGS projector (no latent noise)."""
    opt = optax.lbfgs()
    value_fn = lambda p: f(p, k_steps, 0.0)[0]                            # noqa: E731
    vg = optax.value_and_grad_from_state(value_fn)

    def step(carry, i):
        p, s = carry
        loss, grads = vg(p, state=s)
        upd, s = opt.update(grads, s, p, value=loss, grad=grads, value_fn=value_fn)
        p = optax.apply_updates(p, upd)
        tick(i)
        return (p, s), (loss, f(p, k_steps, 0.0)[1][0])
    return opt, step


def _project_one(G, cfg: ProjectConfig, degrade, E, progress: bool, target, weight, key, init,
                 c, aux) -> ProjectionResult:
    """Optimise one image's latent (``lax.scan`` over ``cfg.num_steps``; vmapped by
    :func:`make_projector`)."""
    g, std, lp, e_vars = aux
    every = max(1, cfg.num_steps // 50)

    def tick(i):
        """The step count to the host's progress reporter, every ``every`` steps."""
        if progress:
            jax.lax.cond((i + 1) % every == 0,
                         lambda: jax.debug.callback(report_step, i + 1, cfg.num_steps),
                         lambda: None)

    k_noise, k_steps = jax.random.split(key)
    noise = _initial_noise(cfg, g, k_noise)
    fx = _Fixed(g, std, lp, e_vars, noise, target, weight, c)
    params = {"latent": init, "noise": noise if cfg.optimize_noise else {}}

    def f(p, k, scale):
        return _objective(G, cfg, degrade, E, p, fx, k, scale)

    opt, step = (_adam_step(cfg, f, k_steps, tick) if cfg.optimizer == "adam"
                 else _lbfgs_step(f, k_steps, tick))
    (params, _), (curve, dist_curve) = jax.lax.scan(
        step, (params, opt.init(params)), jnp.arange(cfg.num_steps))
    loss, (dist, img) = f(params, k_steps, 0.0)
    final_noise = params["noise"] if cfg.optimize_noise else noise
    ws = latent_to_ws(G, g, cfg.space, params["latent"], c)
    return ProjectionResult(params["latent"], ws, final_noise, img[0], loss, dist, curve,
                            dist_curve)


@functools.lru_cache(maxsize=32)
def make_projector(G, cfg: ProjectConfig, degrade: Callable | None = None, E=None, mesh=None,
                   progress: bool = False, key_impl: str | None = None):
    """The jitted batched projector for one (G, config, degradation, encoder, mesh).

    Args:
      G, cfg, degrade, E: the generator module, settings, degradation and encoder module.
      mesh: the mesh with a ``'data'`` axis (:func:`jaxgan.sharding.make_data_mesh`; it may
        span processes; default :func:`jaxgan.sharding.one_device_mesh`): the batch axis of
        every input and output is sharded over it, everything else replicated.
      progress: report the optimisation step to the open progress reporter
        (:func:`jaxgan.progress.report_step`) about 50 times per run.
      key_impl: the PRNG implementation of the keys (``jax.random.key_impl``; default
        the default implementation).

    Returns:
      ``fn(g, targets, key_data, init, pixel_weight, stats, lp, e_vars, c) ->
      ProjectionResult`` (see :func:`project` for the arguments; ``key_data`` the raw
      ``jax.random.key_data`` of the ``[N]`` keys, ``pixel_weight`` ``[N, h, w]`` or None,
      ``stats = (mean, std)`` from :func:`latent_stats`); every argument a global array on
      ``mesh`` (:func:`project` builds them). Cached: reuse the same ``degrade`` object to
      avoid recompiling.
    """
    one = functools.partial(_project_one, G, cfg, degrade, E, progress)
    mesh = resolve_mesh(mesh)
    data, repl = NamedSharding(mesh, P(DATA_AXIS)), NamedSharding(mesh, P())

    def run(g, targets, key_data, init, pixel_weight, stats, lp, e_vars, c):
        keys = jax.random.wrap_key_data(key_data, impl=key_impl)
        aux = (g, stats[1], lp, e_vars)
        w_axis = None if pixel_weight is None else 0
        c_axis = None if c is None else 0
        return jax.vmap(one, in_axes=(0, w_axis, 0, 0, c_axis, None))(targets, pixel_weight,
                                                                        keys, init, c, aux)

    return jax.jit(run, in_shardings=(repl, data, data, data, data, repl, repl, repl, data),
                   out_shardings=data)


def project(G, g, targets, cfg: ProjectConfig = ProjectConfig(), *, key=None, indices=None,
            init=None, pixel_weight=None, degrade=None, lp=None, encoder=None,
            stats=None, mesh=None, c=None, progress: bool = False) -> ProjectionResult:
    """Invert a batch of images through G (one jitted program; see the module docstring).

    Args:
      G, g: the generator (module, variables); frozen.
      targets: ``[N, h, w, C]`` images in [-1, 1]: G's resolution, or the output resolution
        of ``degrade``.
      cfg: the :class:`ProjectConfig`.
      key: PRNG key (default ``key(0)``); image i uses ``fold_in(key, indices[i])``.
      indices: ``[N]`` ints (default ``arange(N)``): pass ``[i]`` to invert image i of a
        batch alone with exactly its batch randomness.
      init: optional start latents ``[N, ...]`` in ``cfg.space`` (see
        :func:`latent_from_ws`); default the sample mean (random N(0, I) for 'z').
      pixel_weight: optional ``[N, h, w]`` distance weight map (masks, diffusion).
      degrade: optional differentiable ``[1, R, R, C] -> [1, h, w, C]`` applied to G's output
        before the distance (hashable: use :mod:`jaxgan.invert.restore`'s degradations).
      lp: LPIPS network (``jaxgan.nets.lpips.load_lpips``), needed if
        ``cfg.distance.lpips > 0``.
      encoder: ``(E, e_vars)``, needed if ``cfg.domain_weight > 0``.
      stats: ``(mean, std)`` from :func:`latent_stats` (computed when omitted).
      mesh: the mesh with a ``'data'`` axis the batch is sharded over, possibly spanning
        processes (:func:`jaxgan.sharding.make_data_mesh`); default
        :func:`jaxgan.sharding.one_device_mesh` (one code path either way).
        ``targets``, ``indices``, ``init`` and ``pixel_weight`` are THIS process's rows of
        the global batch (every process passes the same number; the global batch,
        ``local N * processes``, must divide over the axis), ``indices`` default to the
        rows' global positions (``process_index * local N + arange(local N)``; with one
        process ``arange(N)``), and the result holds global arrays sharded over the axis
        (:func:`jaxgan.sharding.to_host` gathers them). On a mesh spanning processes every
        process must call this together. Row i gets what a one-device ``project`` of the
        whole batch gives it (up to float reassociation).
      c: ``[N, c_dim]`` conditions, one per image, required for a conditional generator
        (unless class-bound, :func:`jaxgan.model.bind_class`). Only the mapping depends on
        it, so it enters through the default start latent (each image's class mean, see
        :func:`class_means`) and, in 'z', the mapping of the optimised z; W/W+/S results
        are otherwise those of the unconditional code path with that start.
      progress: report the steps to the open :func:`jaxgan.progress.progress` reporter.

    Returns:
      :class:`ProjectionResult`.
    """
    targets = jnp.asarray(targets, jnp.float32)
    if targets.ndim != 4 or targets.shape[0] == 0:
        raise ValueError(f"project: targets must be [N, H, W, C] with N >= 1, got "
                         f"{targets.shape}")
    res, ch = G.cfg.img_resolution, G.cfg.img_channels
    if degrade is None and targets.shape[1:] != (res, res, ch):
        raise ValueError(f"project: targets must be [N, {res}, {res}, {ch}] for this generator, "
                         f"got {targets.shape}")
    if not bool(jnp.all(jnp.isfinite(targets))):
        raise ValueError("project: targets contain NaN or Inf")
    if cfg.distance.lpips and lp is None:
        raise ValueError("project: cfg.distance.lpips > 0 needs lp= "
                         "(jaxgan.nets.lpips.load_lpips('vgg16'))")
    E, e_vars = encoder if encoder is not None else (None, None)
    if cfg.domain_weight and E is None:
        raise ValueError("project: cfg.domain_weight > 0 needs encoder=(E, e_vars)")
    n = targets.shape[0]
    key = jax.random.key(0) if key is None else key
    mesh = resolve_mesh(mesh)
    if indices is None:
        index, procs = mesh_processes(mesh)
        indices = jnp.arange(n) + process_rows(n * procs, index, procs).start
    indices = jnp.asarray(indices)
    if indices.shape != (n,):
        raise ValueError(f"project: indices must have shape [{n}], got {indices.shape}")
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(indices)
    c = _check_c(G, c, n)
    if stats is None:
        stats = latent_stats(G, g, cfg.space, cfg.w_avg_samples)
    if init is None:
        if cfg.space == "z":
            init = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1),
                                                        (G.cfg.z_dim,)))(keys)
        elif c is not None:
            init = class_means(G, g, cfg.space, c, cfg.w_avg_samples)
        else:
            init = jax.tree.map(lambda m: jnp.broadcast_to(m, (n, *m.shape)), stats[0])
    else:
        _check_shape("init", init, stats[0])
    if pixel_weight is not None:
        pixel_weight = jnp.asarray(pixel_weight, jnp.float32)
        if pixel_weight.shape != targets.shape[:3]:
            raise ValueError(f"project: pixel_weight must be {targets.shape[:3]}, got "
                             f"{pixel_weight.shape}")
    return _project_on_mesh(G, g, targets, cfg, keys, init, pixel_weight, degrade, lp,
                            (E, e_vars), stats, mesh, c, progress)


def _check_c(G, c, n: int):
    """``c`` as float32 ``[n, c_dim]`` (None for unconditional / class-bound generators)."""
    if c is None:
        if model.needs_class(G):
            raise ValueError(f"project: the generator is conditional (c_dim={G.cfg.c_dim}): "
                             f"pass c=[N, c_dim] (or bind a class: jaxgan.model.bind_class)")
        return None
    if not G.cfg.c_dim:
        raise ValueError("project: c given, but the generator is unconditional (c_dim=0)")
    c = jnp.asarray(c, jnp.float32)
    if c.shape != (n, G.cfg.c_dim):
        raise ValueError(f"project: c must be [{n}, {G.cfg.c_dim}], got {c.shape}")
    return c


def _project_on_mesh(G, g, targets, cfg, keys, init, pixel_weight, degrade, lp, encoder,
                     stats, mesh, c=None, progress: bool = False) -> ProjectionResult:
    """:func:`project` on ``mesh``: process-local rows -> global sharded arrays (the keys as
    raw key data, their implementation passed along) -> the projector (all arguments
    already checked)."""
    if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(keys)
        key_data = jax.random.key_data(keys)
    else:                                        # raw uint32 keys (jax.random.PRNGKey)
        impl, key_data = None, keys
    local = {"targets": targets, "keys": key_data, "init": init,
             "pixel_weight": pixel_weight, "c": c}
    try:
        glob = global_rows(local, mesh, DATA_AXIS)                          # [N_global, ...]
    except ValueError as e:
        raise ValueError(f"project: the batch cannot be sharded: {e}") from None
    E, e_vars = encoder
    fn = make_projector(G, cfg, degrade, E, mesh, progress, impl)
    rep = replicate((g, stats, lp, e_vars), mesh)
    return fn(rep[0], glob["targets"], glob["keys"], glob["init"], glob["pixel_weight"],
              rep[1], rep[2], rep[3], glob["c"])
