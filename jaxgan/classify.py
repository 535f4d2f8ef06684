"""Train, evaluate, save and load the small classifier and concept segmenter.

Pure pieces (jitted, seeded, no global state): :func:`make_classifier_step`,
:func:`make_segmenter_step` build ``train_step(state, batch, key) -> (state, metrics)``
(the state argument is donated); :func:`predict_logits`, :func:`evaluate_classifier`,
:func:`evaluate_segmenter` and :func:`mean_iou` evaluate. :func:`run_classifier` /
:func:`run_segmenter` are the small runners behind ``jaxgan train-classifier`` and
``jaxgan train-segmenter``: data -> training (tqdm bar with ETA) -> held-out
evaluation -> checkpoint.

Seeding: one ``seed`` drives everything - the shapes datasets (train = scene indices
``[0, num_train)``, test = ``[num_train, num_train + num_test)``, so they are disjoint),
the parameter init (``fold_in(key(seed), 0)``), the per-step augmentation keys
(``fold_in(fold_in(key(seed), 1), step)``) and the data order (a local
``np.random.default_rng(seed)``). Same seed -> identical parameters.

Checkpoint directory (:func:`save_model` / :func:`load_model`)::

    <path>/arch.json     ClassifierConfig / SegmenterConfig .to_json()
    <path>/params/       {'params': ...} (orbax StandardCheckpointer)
    <path>/metrics.json  optional: held-out metrics and training options

written to a sibling temporary directory and moved into place with ``os.replace``.
"""
from __future__ import annotations

import dataclasses
import json
import time
from functools import partial
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from jaxgan import assets
from jaxgan.checkpoint import write_dir_atomic
from jaxgan.data import to_float
from jaxgan.data.labelled import load_classification_data, load_segmentation_data, mask_concepts
from jaxgan.nets.classifier import (Classifier, classifier_logits, evaluate_classifier,
                                    init_classifier, predict_logits)
from jaxgan.nets.configs import ClassifierConfig, SegmenterConfig, _Config, config_from_json
from jaxgan.nets.segmenter import (Segmenter, evaluate_segmenter, init_segmenter, iou_counts,
                                   iou_from_counts, mean_iou, segment, segmenter_logits)
from jaxgan.progress import progress as reporter

ARCH_FILE, PARAMS_DIR, METRICS_FILE = "arch.json", "params", "metrics.json"


@dataclasses.dataclass(frozen=True)
class TrainOptions(_Config):
    """Data and optimisation options of a run (the architecture is a separate config).

    ``task``: ``'shapes:<task>'`` (a name in ``jaxgan.data.TASKS``), ``'digits'`` or
    ``'folder:PATH'`` (any folder of images, one sub-folder per class) for the classifier;
    ``'shapes'`` or ``'folder:PATH'`` (``PATH/images/`` and ``PATH/masks/<concept>/`` with
    the same file names) for the segmenter. ``num_train`` / ``num_test`` apply to shapes
    (digits use the fixed 1442 / 355 split); a folder is split by :func:`split_folder`
    with ``test_fraction`` held out. ``flip``: ``'auto'`` (x-flip where label-invariant:
    never for digits or position tasks; always for folders of photographs), True or
    False. ``shift``:
    random translation by up to this many pixels (edge padded). AdamW with linear warmup
    and cosine decay to 1% of ``learning_rate``. ``dice_weight`` (segmenter only) adds
    that much soft-Dice loss to the per-pixel cross-entropy (helps small concepts).
    """
    task: str = "shapes:shape"
    resolution: int = 32
    channels: int = 3
    num_train: int = 4000
    num_test: int = 1000
    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    flip: bool | str = "auto"
    shift: int = 0
    seed: int = 0
    eval_batch_size: int = 250
    dice_weight: float = 0.0
    test_fraction: float = 0.2

    def __post_init__(self):
        if not isinstance(self.task, str):
            raise ValueError(f"TrainOptions: task must be a string, got {self.task!r}")
        for k in ("resolution", "num_train", "num_test", "steps", "batch_size",
                  "eval_batch_size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainOptions: {k} must be a positive int, got {v!r}")
        for k in ("warmup_steps", "shift", "seed"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"TrainOptions: {k} must be an int >= 0, got {v!r}")
        if self.flip not in (True, False, "auto"):
            raise ValueError(f"TrainOptions: flip must be True, False or 'auto', got {self.flip!r}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"TrainOptions: test_fraction must be in (0, 1), got "
                             f"{self.test_fraction!r}")
        if not (self.learning_rate > 0 and self.weight_decay >= 0 and self.dice_weight >= 0):
            raise ValueError("TrainOptions: need learning_rate > 0, weight_decay >= 0 and "
                             "dice_weight >= 0")


@flax.struct.dataclass
class ClassifierState:
    """``step`` int32 scalar, ``params`` pytree, ``opt_state`` optax state."""
    step: jax.Array
    params: dict
    opt_state: tuple


def _as(cls, obj):
    return obj if isinstance(obj, cls) else cls.from_dict(dict(obj or {}))


# ----------------------------------------------------------------------------- data

def _batches(n: int, batch_size: int, steps: int, rng: np.random.Generator):
    """Yield ``steps`` index arrays of ``batch_size``: reshuffled epochs, remainders dropped."""
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training examples")
    done = 0
    while done < steps:
        perm = rng.permutation(n)
        for s in range(0, n - batch_size + 1, batch_size):
            if done == steps:
                return
            yield perm[s:s + batch_size]
            done += 1


# ----------------------------------------------------------------------------- steps

def augment(key, images, targets=None, *, flip: bool, shift: int):
    """Random x-flip and translation (edge padded) of a batch, same for the targets.

    Args:
      key: a ``jax.random`` key.
      images: float ``[B, H, W, C]``.
      targets: optional per-pixel targets ``[B, H, W, K]`` moved along with the images.
      flip: flip each example left-right with probability 1/2.
      shift: translate each example by up to ``shift`` pixels in x and y.

    Returns:
      ``images`` (and ``targets`` if given) augmented.
    """
    k_flip, k_shift = jax.random.split(key)
    arrays = [images] if targets is None else [images, targets.astype(images.dtype)]
    b, h, w = images.shape[:3]
    if flip:
        f = jax.random.bernoulli(k_flip, 0.5, (b,))[:, None, None, None]
        arrays = [jnp.where(f, a[:, :, ::-1], a) for a in arrays]
    if shift:
        off = jax.random.randint(k_shift, (b, 2), 0, 2 * shift + 1)

        def crop(a):
            p = jnp.pad(a, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
            return jax.vmap(lambda x, o: jax.lax.dynamic_slice(
                x, (o[0], o[1], 0), (h, w, a.shape[-1])))(p, off)
        arrays = [crop(a) for a in arrays]
    if targets is None:
        return arrays[0]
    return arrays[0], arrays[1] > 0.5


def classifier_optimizer(opts: TrainOptions):
    """AdamW with linear warmup and cosine decay over ``opts.steps``."""
    sched = optax.warmup_cosine_decay_schedule(
        0.0, opts.learning_rate, min(opts.warmup_steps, opts.steps - 1) if opts.steps > 1 else 0,
        opts.steps, end_value=opts.learning_rate * 0.01)
    return optax.adamw(sched, weight_decay=opts.weight_decay)


def init_classifier_state(params, tx) -> ClassifierState:
    """Fresh :class:`ClassifierState` at step 0."""
    return ClassifierState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def _make_step(loss_fn, tx):
    def step(state, batch, key):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, batch, key)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return ClassifierState(state.step + 1, params, opt_state), {"loss": loss, **metrics}
    return jax.jit(step, donate_argnums=(0,))


def make_classifier_step(module: Classifier, tx, *, flip: bool = False, shift: int = 0):
    """Jitted ``train_step(state, batch, key) -> (state, metrics)`` (state donated).

    Args:
      module: the classifier.
      tx: an optax optimiser.
      flip, shift: augmentation (see :func:`augment`).

    Returns:
      a function of ``state`` (:class:`ClassifierState`), ``batch`` (``image`` uint8
      ``[B, R, R, C]``, ``label`` int ``[B]``) and a key, returning the new state and
      ``{'loss', 'accuracy'}`` (batch mean cross-entropy and accuracy, scalars).
    """
    def loss_fn(params, batch, key):
        x = augment(key, to_float(batch["image"]), flip=flip, shift=shift)
        logits = module.apply({"params": params}, x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}
    return _make_step(loss_fn, tx)


def make_segmenter_step(module: Segmenter, tx, *, flip: bool = False, shift: int = 0,
                        dice_weight: float = 0.0):
    """Jitted segmenter ``train_step(state, batch, key) -> (state, metrics)``.

    Loss: per-pixel, per-concept sigmoid cross-entropy (multi-label), plus
    ``dice_weight`` times the soft-Dice loss ``1 - (2 sum(p t) + 1) / (sum p + sum t + 1)``
    per concept over the batch, averaged over concepts.

    Args:
      module: the segmenter.
      tx: an optax optimiser.
      flip, shift: augmentation, applied to images and masks alike.
      dice_weight: weight of the soft-Dice term.

    Returns:
      as :func:`make_classifier_step`; ``batch`` has ``image`` uint8 ``[B, R, R, 3]``
      and ``masks`` bool ``[B, R, R, K]``; metrics ``{'loss', 'pixel_accuracy'}``.
    """
    def loss_fn(params, batch, key):
        x, m = augment(key, to_float(batch["image"]), batch["masks"], flip=flip, shift=shift)
        logits = module.apply({"params": params}, x)
        t = m.astype(logits.dtype)
        loss = optax.sigmoid_binary_cross_entropy(logits, t).mean()
        if dice_weight:
            p = jax.nn.sigmoid(logits)
            inter, total = jnp.sum(p * t, (0, 1, 2)), jnp.sum(p + t, (0, 1, 2))   # [K]
            loss = loss + dice_weight * jnp.mean(1 - (2 * inter + 1) / (total + 1))
        return loss, {"pixel_accuracy": jnp.mean((logits > 0) == m)}
    return _make_step(loss_fn, tx)


def _train(step_fn, state, data, opts: TrainOptions, progress: bool, desc: str):
    """Run ``opts.steps`` steps with a tqdm bar; return the final state and last metrics."""
    rng = np.random.default_rng(opts.seed)
    step_root = jax.random.fold_in(jax.random.key(opts.seed), 1)
    n = len(data["image"])
    metrics = {}
    with reporter(total=opts.steps, desc=desc, unit="step", disable=not progress,
                  dynamic_ncols=True, mininterval=1.0) as bar:
        bar.compiling()
        for i, idx in enumerate(_batches(n, opts.batch_size, opts.steps, rng)):
            batch = {k: v[idx] for k, v in data.items()}
            state, metrics = step_fn(state, batch, jax.random.fold_in(step_root, i))
            if progress and (i % 20 == 0 or i == opts.steps - 1):
                bar.set_postfix({k: f"{float(v):.4f}" for k, v in metrics.items()}, refresh=False)
            bar.update(1)
    return state, {k: float(v) for k, v in metrics.items()}


# ----------------------------------------------------------------------------- checkpoints

def save_model(path, module, variables, metrics: dict | None = None) -> Path:
    """Atomically write ``arch.json`` + orbax ``params/`` (+ ``metrics.json``) to ``path``.

    Args:
      path: the checkpoint directory; an existing one is replaced.
      module: a :class:`Classifier` or :class:`Segmenter` (its ``cfg`` goes to arch.json).
      variables: ``{'params': ...}``.
      metrics: optional JSON-serialisable dict.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path).absolute()
    cfg = getattr(module, "cfg", None)
    if not isinstance(cfg, (ClassifierConfig, SegmenterConfig)):
        raise TypeError("save_model expects a Classifier or Segmenter, got "
                        f"{type(module).__name__}")
    tree = jax.tree.map(np.asarray, jax.device_get({"params": variables["params"]}))

    def fill(tmp: Path) -> None:
        (tmp / ARCH_FILE).write_text(cfg.to_json() + "\n")
        if metrics is not None:
            (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp / PARAMS_DIR, tree)
            ckptr.wait_until_finished()

    return write_dir_atomic(path, fill)


def build_module(cfg):
    """``Classifier`` / ``Segmenter`` of a ``ClassifierConfig`` / ``SegmenterConfig``."""
    if isinstance(cfg, ClassifierConfig):
        return Classifier(cfg)
    if isinstance(cfg, SegmenterConfig):
        return Segmenter(cfg)
    raise TypeError(f"not a classifier/segmenter config: {type(cfg).__name__}")


def load_model(path):
    """Load a checkpoint written by :func:`save_model`.

    Args:
      path: the checkpoint directory, or ``builtin:NAME`` (a network in :mod:`jaxgan.assets`).

    Returns:
      ``(module, variables)`` with ``variables = {'params': ...}`` as JAX arrays.

    Raises:
      FileNotFoundError: no ``arch.json`` / ``params/`` there.
      ValueError: ``arch.json`` is not a classifier or segmenter config.
    """
    path = Path(assets.resolve(path)).absolute()
    if not (path / ARCH_FILE).is_file() or not (path / PARAMS_DIR).is_dir():
        raise FileNotFoundError(f"{path} is not a classifier/segmenter checkpoint "
                                f"(expected {ARCH_FILE} and {PARAMS_DIR}/)")
    cfg = config_from_json((path / ARCH_FILE).read_text())
    if not isinstance(cfg, (ClassifierConfig, SegmenterConfig)):
        raise ValueError(f"{path / ARCH_FILE} holds a {type(cfg).__name__}, not a "
                         "ClassifierConfig / SegmenterConfig")
    module = build_module(cfg)
    init = init_classifier if isinstance(cfg, ClassifierConfig) else init_segmenter
    target = jax.eval_shape(lambda: init(cfg, jax.random.key(0))[1])
    with ocp.StandardCheckpointer() as ckptr:
        variables = ckptr.restore(path / PARAMS_DIR, target)
    return module, jax.tree.map(jnp.asarray, variables)


# ----------------------------------------------------------------------------- runners

def _resolve_aug(opts: TrainOptions, flip_ok: bool, shift_ok: bool, what: str):
    if opts.flip is True and not flip_ok:
        raise ValueError(f"flip=True changes the labels of {what}; use flip=False or 'auto'")
    if opts.shift and not shift_ok:
        raise ValueError(f"shift={opts.shift} changes the labels of {what}; use shift=0")
    return (flip_ok if opts.flip == "auto" else bool(opts.flip)), opts.shift


def run_classifier(train=None, model=None, *, out=None, progress: bool = True) -> dict:
    """Train a classifier on ``train.task``, evaluate it held-out and optionally save it.

    Args:
      train: :class:`TrainOptions` or a dict of its fields (unknown keys are an error).
      model: dict of :class:`ClassifierConfig` fields other than ``img_resolution``,
        ``img_channels``, ``num_classes``, ``task``, ``class_names`` (set from the data).
      out: checkpoint directory to write, or None.
      progress: show a tqdm progress bar.

    Returns:
      dict: ``module``, ``variables``, ``metrics`` (``test_accuracy``, ``train_loss``,
      ``train_accuracy`` of the last batch, ``seconds``, ...), ``path``.
    """
    opts = _as(TrainOptions, train)
    t0 = time.perf_counter()
    data, test, info = load_classification_data(opts)
    flip, shift = _resolve_aug(opts, info["flip_ok"], info["shift_ok"], opts.task)
    cfg = ClassifierConfig.from_dict({
        **dict(model or {}), "img_resolution": opts.resolution,
        "img_channels": data["image"].shape[-1], "num_classes": info["num_classes"],
        "task": opts.task, "class_names": info["class_names"]})
    module, variables = init_classifier(cfg, jax.random.fold_in(jax.random.key(opts.seed), 0))
    tx = classifier_optimizer(opts)
    step = make_classifier_step(module, tx, flip=flip, shift=shift)
    state, last = _train(step, init_classifier_state(variables["params"], tx), data, opts, progress,
                         opts.task)
    variables = {"params": state.params}
    acc = evaluate_classifier(module, variables, test["image"], test["label"],
                              opts.eval_batch_size)
    metrics = {"test_accuracy": acc, "num_test": len(test["label"]),
               "num_train": len(data["label"]), "train_loss": last.get("loss"),
               "train_accuracy": last.get("accuracy"), "flip": flip, "shift": shift,
               "seconds": time.perf_counter() - t0, "options": opts.to_dict()}
    path = save_model(out, module, variables, metrics) if out else None
    return {"module": module, "variables": variables, "metrics": metrics, "path": path}


def run_segmenter(train=None, model=None, *, out=None, progress: bool = True) -> dict:
    """Train a concept segmenter on shapes scenes or a mask folder, report held-out mIoU,
    optionally save.

    Args:
      train: :class:`TrainOptions` or dict (``task``: ``'shapes'`` or ``'folder:PATH'``).
      model: dict of :class:`SegmenterConfig` fields other than ``img_resolution`` /
        ``img_channels`` (e.g. ``concepts``, ``widths``).
      out: checkpoint directory to write, or None.
      progress: show a tqdm progress bar.

    Returns:
      dict: ``module``, ``variables``, ``metrics`` (``mean_iou``, ``iou`` per concept,
      ``seconds``, ...), ``path``.
    """
    if not isinstance(train, TrainOptions):
        train = {"task": "shapes", **dict(train or {})}
    opts = _as(TrainOptions, train)
    t0 = time.perf_counter()
    model = dict(model or {})
    if opts.task.startswith("folder:") and "concepts" not in model:   # the folder's concepts
        model["concepts"] = mask_concepts(opts.task.partition(":")[2])
    cfg = SegmenterConfig.from_dict({**model, "img_resolution": opts.resolution,
                                     "img_channels": opts.channels})
    data, test = load_segmentation_data(opts, cfg.concepts)
    # Every shapes concept mask moves with the image under flips and shifts.
    flip, shift = _resolve_aug(opts, True, True, "segmentation")
    module, variables = init_segmenter(cfg, jax.random.fold_in(jax.random.key(opts.seed), 0))
    tx = classifier_optimizer(opts)
    step = make_segmenter_step(module, tx, flip=flip, shift=shift, dice_weight=opts.dice_weight)
    state, last = _train(step, init_classifier_state(variables["params"], tx), data, opts, progress,
                         "segmenter")
    variables = {"params": state.params}
    fn = partial(jax.jit(lambda v, x: segment(module, v, x)), variables)
    truth = {c: test["masks"][..., k] for k, c in enumerate(cfg.concepts)}
    miou, per = evaluate_segmenter(fn, test["image"], truth,
                                   min(opts.eval_batch_size, len(test["image"])))
    metrics = {"mean_iou": miou, "iou": per, "num_test": len(test["image"]),
               "num_train": len(data["image"]), "train_loss": last.get("loss"), "flip": flip,
               "shift": shift, "seconds": time.perf_counter() - t0,
               "options": opts.to_dict()}
    path = save_model(out, module, variables, metrics) if out else None
    return {"module": module, "variables": variables, "metrics": metrics, "path": path}


__all__ = ["TrainOptions", "ClassifierState", "augment", "build_module",
           "evaluate_classifier", "evaluate_segmenter", "init_classifier_state", "iou_counts",
           "iou_from_counts", "load_classification_data", "load_model",
           "load_segmentation_data", "make_classifier_step", "classifier_optimizer",
           "make_segmenter_step", "mean_iou", "predict_logits", "run_classifier",
           "run_segmenter", "save_model", "classifier_logits", "segmenter_logits"]
