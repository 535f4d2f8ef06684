"""The model contract: a user's classifier, segmenter, assessor or feature net, from a
jaxgan checkpoint or from any JAX function, through one adapter.

Inside jaxgan every model sees images ``[N, H, W, C]`` float32 in ``[-1, 1]`` and returns

=============  ========================================================================
kind           output
=============  ========================================================================
classifier     logits ``[N, K]`` (K >= 2 classes)
segmenter      ``{concept: [N, h, w]}`` logits (or probabilities, if declared), any h, w
assessor       a score ``[N]``
features       a feature vector ``[N, D]``
=============  ========================================================================

A *spec* names the model:

* a jaxgan checkpoint directory (``jaxgan train-classifier`` / ``train-segmenter``), or
  ``builtin:NAME`` (:mod:`jaxgan.assets`): loaded with :func:`jaxgan.classify.load_model`;
* a Python reference ``package.module:factory``. The module is imported (it runs the
  user's code, like a config file) and ``factory()`` is called with no arguments. It
  returns ``(apply_fn, params)`` or ``(apply_fn, params, meta)`` where
  ``apply_fn(params, images) -> output`` is a pure, jit-able function (a Flax
  ``module.apply``, an Equinox/Haiku function, or plain ``jnp``), ``params`` any pytree,
  and ``meta`` an optional dict:

  ``resolution`` (int: images are resized to it; default: passed as they come),
  ``channels`` (1 or 3; default 3), ``value_range`` (``'[-1,1]'`` default, ``'[0,1]'``,
  ``'[0,255]'``: what the function expects), ``class_names`` (classifier; their count
  must be K), ``concepts`` (segmenter; the order of its masks, default the sorted
  keys of its output), ``outputs``
  (segmenter: ``'logits'`` default or ``'probabilities'``), ``name`` (features: metrics
  are reported as ``fd_<name>``; default ``'user'``).

:func:`load_model` returns ``(module, variables)`` as :func:`jaxgan.classify.load_model`
does: a jaxgan network unchanged, or an :class:`AdaptedModel` whose ``apply(variables,
images)`` resizes (``jax.image.resize``, linear, antialiased), converts channels and
range, calls the user's function and returns what a jaxgan network would (logits
``[N, K]``; for a segmenter stacked logits ``[N, H, W, K]`` at the input size, in
``cfg.concepts`` order; ``[N]``; ``[N, D]``). It checks the contract once on a probe batch
(output kind, rank and shape, K vs class names, finite values, jit-ability) and raises
:class:`jaxgan.errors.UsageError` with one line naming what was expected.
"""
from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import assets
from jaxgan.classify import load_model as load_checkpoint
from jaxgan.errors import UsageError, WrongKindError

KINDS = ("classifier", "segmenter", "assessor", "features")
RANGES = {"[-1,1]": (-1.0, 1.0), "[0,1]": (0.0, 1.0), "[0,255]": (0.0, 255.0)}
META_KEYS = ("resolution", "channels", "value_range", "class_names", "concepts", "outputs",
             "name")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_TRACER_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError,
                  jax.errors.TracerBoolConversionError, jax.errors.TracerIntegerConversionError,
                  jax.errors.UnexpectedTracerError)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What is known about a user's model; plays the role of a jaxgan network's ``cfg``.

    Attributes mirror :class:`~jaxgan.nets.configs.ClassifierConfig` /
    ``SegmenterConfig`` where commands read them (``img_resolution``, ``img_channels``,
    ``num_classes``, ``class_names``, ``concepts``, ``task``).
    """
    kind: str
    source: str
    img_resolution: int | None = None
    img_channels: int = 3
    value_range: tuple[float, float] = (-1.0, 1.0)
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    concepts: tuple[str, ...] = ()
    outputs: str = "logits"
    name: str = "user"
    dim: int = 0
    task: str = ""


def is_reference(spec) -> bool:
    """True if ``spec`` reads as ``package.module:factory`` (and is no existing path)."""
    s = str(spec)
    return bool(_REF.match(s)) and not s.startswith(assets.PREFIX) and not Path(s).exists()


def fit_input(images, resolution: int | None, channels: int, value_range=(-1.0, 1.0)):
    """Images ``[N, H, W, C]`` in [-1, 1] -> the model's size, channels and value range.

    Args:
      images: float ``[N, H, W, C]`` in [-1, 1].
      resolution: target height = width (``jax.image.resize``, linear, antialiased), or
        None to keep the size.
      channels: 1 (mean of RGB) or 3 (grey repeated).
      value_range: ``(lo, hi)`` the model expects; [-1, 1] maps linearly onto it.

    Returns:
      ``[N, resolution, resolution, channels]`` float32.
    """
    x = jnp.asarray(images, jnp.float32)
    n, h, w, c = x.shape
    if resolution is not None and (h, w) != (resolution, resolution):
        x = jax.image.resize(x, (n, resolution, resolution, c), "linear", antialias=True)
    if c != channels:
        if c == 1 and channels == 3:
            x = jnp.repeat(x, 3, axis=-1)
        elif c == 3 and channels == 1:
            x = jnp.mean(x, axis=-1, keepdims=True)
        else:
            raise UsageError(f"cannot feed {c}-channel images to a {channels}-channel model")
    lo, hi = value_range
    if (lo, hi) != (-1.0, 1.0):
        x = lo + (x + 1.0) * (0.5 * (hi - lo))
    return x


class AdaptedModel:
    """A user's ``apply_fn`` behind the interface of a jaxgan network.

    ``apply(variables, images)`` takes images ``[N, H, W, C]`` in [-1, 1] at any size and
    returns the contract output (see the module docstring); ``cfg`` is a :class:`ModelInfo`.
    ``variables`` is the user's ``params`` pytree, passed through unchanged.
    """

    def __init__(self, apply_fn: Callable, info: ModelInfo):
        self.apply_fn, self.cfg = apply_fn, info

    def __repr__(self) -> str:
        return f"AdaptedModel({self.cfg.kind} {self.cfg.source})"

    def apply(self, variables, images):
        """The contract output of ``images`` (see the class docstring)."""
        cfg = self.cfg
        x = fit_input(images, cfg.img_resolution, cfg.img_channels, cfg.value_range)
        y = self.apply_fn(variables, x)
        return _conform(y, cfg, images.shape)


def _fail(cfg: ModelInfo, msg: str):
    raise UsageError(f"{cfg.kind} {cfg.source}: {msg}")


def _shape(y) -> str:
    return str(tuple(y.shape)) if hasattr(y, "shape") else type(y).__name__


def _conform(y, cfg: ModelInfo, in_shape):
    """Check the static shape of the user's output and bring it to jaxgan's form."""
    n, h, w = in_shape[:3]
    if cfg.kind == "segmenter":
        if isinstance(y, dict):
            missing = [c for c in cfg.concepts if c not in y]
            if missing:
                _fail(cfg, f"expected masks for concepts {list(cfg.concepts)}, missing {missing}")
            ys = [y[c] for c in cfg.concepts]
        else:
            _fail(cfg, f"expected a dict {{concept: [N, H, W]}}, got {_shape(y)}")
        for c, m in zip(cfg.concepts, ys):
            if not hasattr(m, "ndim") or m.ndim != 3 or m.shape[0] != n:
                _fail(cfg, f"mask {c!r}: expected shape [N, H, W] = [{n}, H, W], got {_shape(m)}")
        m = jnp.stack([jnp.asarray(v, jnp.float32) for v in ys], -1)           # [N, h, w, K]
        if cfg.outputs == "probabilities":
            m = jnp.log(jnp.clip(m, 1e-6, 1 - 1e-6)) - jnp.log1p(-jnp.clip(m, 1e-6, 1 - 1e-6))
        if m.shape[1:3] != (h, w):
            m = jax.image.resize(m, (n, h, w, m.shape[-1]), "linear")
        return m
    if not hasattr(y, "ndim") or not jnp.issubdtype(jnp.asarray(y).dtype, jnp.floating):
        _fail(cfg, f"expected a float array, got {_shape(y)} "
                   f"{getattr(y, 'dtype', type(y).__name__)}")
    want = {"classifier": ("[N, K]", 2), "assessor": ("[N]", 1), "features": ("[N, D]", 2)}
    text, rank = want[cfg.kind]
    if y.ndim != rank or y.shape[0] != n:
        _fail(cfg, f"expected an output of shape {text} with N = {n}, got {_shape(y)}")
    if cfg.kind == "classifier":
        k = y.shape[1]
        if k < 2:
            _fail(cfg, f"expected logits [N, K] with K >= 2 classes, got {_shape(y)}")
        if cfg.class_names and k != len(cfg.class_names):
            _fail(cfg, f"returns K = {k} logits but declares {len(cfg.class_names)} class "
                       f"names {list(cfg.class_names)}")
    return jnp.asarray(y, jnp.float32)


def _parse_meta(meta, kind: str, source: str) -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise UsageError(f"{kind} {source}: the factory's third value must be a dict of "
                         f"{list(META_KEYS)}, got {type(meta).__name__}")
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise UsageError(f"{kind} {source}: unknown metadata {unknown}; known: {list(META_KEYS)}")
    out: dict[str, Any] = {}
    if meta.get("resolution") is not None:
        r = meta["resolution"]
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise UsageError(f"{kind} {source}: resolution must be a positive int, got {r!r}")
        out["img_resolution"] = r
    if "channels" in meta:
        if meta["channels"] not in (1, 3):
            raise UsageError(f"{kind} {source}: channels must be 1 or 3, got {meta['channels']!r}")
        out["img_channels"] = meta["channels"]
    if "value_range" in meta:
        vr = meta["value_range"]
        key = vr.replace(" ", "") if isinstance(vr, str) else \
            f"[{vr[0]:g},{vr[1]:g}]" if isinstance(vr, (tuple, list)) and len(vr) == 2 else None
        if key not in RANGES:
            raise UsageError(f"{kind} {source}: value_range must be one of {list(RANGES)}, "
                             f"got {vr!r}")
        out["value_range"] = RANGES[key]
    for k in ("class_names", "concepts"):
        if k in meta:
            out[k] = tuple(str(c) for c in meta[k])
    if "outputs" in meta:
        if meta["outputs"] not in ("logits", "probabilities"):
            raise UsageError(f"{kind} {source}: outputs must be 'logits' or 'probabilities', "
                             f"got {meta['outputs']!r}")
        out["outputs"] = meta["outputs"]
    if "name" in meta:
        out["name"] = str(meta["name"])
    return out


def import_factory(spec: str):
    """Import ``package.module:factory`` and return the factory.

    Raises:
      UsageError: the module cannot be imported or has no such callable.
    """
    mod_name, _, attr = str(spec).partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise UsageError(f"{spec}: cannot import module {mod_name!r} ({e}); is it on "
                         "PYTHONPATH?") from None
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise UsageError(f"{spec}: module {mod_name!r} has no callable {attr!r}")
    return fn


def _probe(model: AdaptedModel, params, resolution: int | None):
    """Run the adapted model jitted on a fixed probe batch; return the output's shapes."""
    cfg = model.cfg
    r = cfg.img_resolution or resolution or 32
    probe = jax.random.uniform(jax.random.key(0), (2, r, r, 3), minval=-1.0, maxval=1.0)
    try:
        y = jax.jit(model.apply)(params, probe)
    except UsageError:
        raise
    except _TRACER_ERRORS as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{cfg.kind} {cfg.source}: apply_fn is not jit-able (it must be a "
                         f"pure jnp function of (params, images)): {type(e).__name__}: "
                         f"{first}") from None
    except Exception as e:  # noqa: BLE001 - the user's code: report it as one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UsageError(f"{cfg.kind} {cfg.source}: calling apply_fn(params, images "
                         f"[2, {r}, {r}, 3]) failed: {type(e).__name__}: {first}") from None
    y = np.asarray(y)
    if cfg.kind == "segmenter" and cfg.outputs == "probabilities":
        raw = model.apply_fn(params, fit_input(probe, cfg.img_resolution, cfg.img_channels,
                                               cfg.value_range))
        lo, hi = (min(float(np.min(v)) for v in raw.values()),
                  max(float(np.max(v)) for v in raw.values()))
        if lo < 0 or hi > 1:
            raise UsageError(f"{cfg.kind} {cfg.source}: declares outputs='probabilities' but "
                             f"returned values in [{lo:.3g}, {hi:.3g}]; expected [0, 1] "
                             "(or declare outputs='logits')")
    if not np.all(np.isfinite(y)):
        raise UsageError(f"{cfg.kind} {cfg.source}: non-finite outputs (NaN/inf) on a probe "
                         f"batch of images in [-1, 1]; expected finite "
                         f"{'logits' if cfg.kind != 'assessor' else 'scores'}")
    return y


def from_function(apply_fn, params, meta=None, *, kind: str, source: str = "<function>",
                  resolution: int | None = None):
    """Adapt a user's ``apply_fn(params, images)`` and check it on a probe batch.

    Args:
      apply_fn: pure, jit-able ``apply_fn(params, images) -> output`` (see the module doc).
      params: its parameter pytree.
      meta: optional dict of :data:`META_KEYS`.
      kind: one of :data:`KINDS`.
      source: the name used in error messages (the spec).
      resolution: probe size for a model that declares none (e.g. the generator's).

    Returns:
      ``(AdaptedModel, params)``.

    Raises:
      UsageError: the model breaks the contract (one line naming what was expected).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not callable(apply_fn):
        raise UsageError(f"{kind} {source}: apply_fn is not callable ({type(apply_fn).__name__})")
    fields = _parse_meta(meta, kind, source)
    info = ModelInfo(kind=kind, source=source, **fields)
    if kind == "segmenter" and not info.concepts:   # discover the concept names from a trace
        r = info.img_resolution or resolution or 32
        x = fit_input(jnp.zeros((2, r, r, 3)), info.img_resolution, info.img_channels,
                      info.value_range)
        try:
            shapes = jax.eval_shape(apply_fn, params, x)
        except Exception:  # noqa: BLE001 - reported with its message by _probe below
            shapes = None
        if isinstance(shapes, dict):
            info = dataclasses.replace(info, concepts=tuple(str(c) for c in shapes))
    model = AdaptedModel(apply_fn, info)
    y = _probe(model, params, resolution)
    if kind == "classifier":
        names = info.class_names or tuple(f"class{i}" for i in range(y.shape[1]))
        info = dataclasses.replace(info, num_classes=y.shape[1], class_names=names)
    elif kind == "features":
        info = dataclasses.replace(info, dim=y.shape[1])
    model.cfg = info
    return model, params


def load_reference(spec: str, kind: str, resolution: int | None = None):
    """``package.module:factory`` -> ``(AdaptedModel, params)`` (see :func:`from_function`)."""
    made = import_factory(spec)()
    if not isinstance(made, (tuple, list)) or len(made) not in (2, 3):
        raise UsageError(f"{kind} {spec}: the factory must return (apply_fn, params) or "
                         f"(apply_fn, params, meta), got {type(made).__name__}")
    apply_fn, params, meta = (*made, None) if len(made) == 2 else made
    return from_function(apply_fn, params, meta, kind=kind, source=spec, resolution=resolution)


def load_model(spec, kind: str = "classifier", *, resolution: int | None = None):
    """Load a model of ``kind`` from a spec (a checkpoint, ``builtin:NAME`` or a reference).

    Args:
      spec: checkpoint directory, ``builtin:NAME``, or ``package.module:factory``.
      kind: one of :data:`KINDS`; a checkpoint must be a classifier (kinds ``classifier``
        and ``features``: its pooled features) or a segmenter (kind ``segmenter``).
      resolution: probe size for a reference that declares no resolution.

    Returns:
      ``(module, variables)``: a jaxgan network and ``{'params': ...}``, or an
      :class:`AdaptedModel` and the user's params. ``module.apply(variables, images)``.

    Raises:
      UsageError / WrongKindError: an unusable spec or a model that breaks the contract.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if is_reference(spec):
        return load_reference(str(spec), kind, resolution)
    path = Path(assets.resolve(spec))
    if not path.is_dir():
        raise UsageError(f"{kind} {spec}: no such checkpoint directory, and not a Python "
                         "reference package.module:factory")
    try:
        module, variables = load_checkpoint(path)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"{kind} {spec}: {e}") from None
    has_classes = hasattr(module.cfg, "num_classes")
    if kind == "segmenter" and has_classes or kind in ("classifier", "features") and not has_classes:
        raise WrongKindError(f"{spec} holds a {type(module).__name__}, not a "
                             f"{'segmenter' if kind == 'segmenter' else 'classifier'}")
    if kind == "assessor":
        raise WrongKindError(f"{spec}: a checkpoint is no assessor; pass package.module:factory "
                             "returning apply_fn(params, images) -> [N] scores")
    return module, variables


def describe(module) -> str:
    """One line: what ``module`` is (for logs and results.json)."""
    cfg = module.cfg
    if isinstance(module, AdaptedModel):
        return f"{cfg.kind} {cfg.source} (Python reference)"
    return f"{type(module).__name__} checkpoint ({getattr(cfg, 'task', '') or 'no task'})"


__all__ = ["AdaptedModel", "KINDS", "META_KEYS", "ModelInfo", "RANGES", "describe",
           "fit_input", "from_function", "import_factory", "is_reference", "load_model",
           "load_reference"]
