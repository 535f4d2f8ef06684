"""Classifier/segmenter training pieces: options, state, seeded augmentation and batching, the
jitted steps (state donated) and the training loop."""
from __future__ import annotations

import dataclasses

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.data import to_float
from jaxgan.nets.classifier import Classifier
from jaxgan.nets.configs import _Config
from jaxgan.nets.segmenter import Segmenter
from jaxgan.progress import progress as reporter


@dataclasses.dataclass(frozen=True)
class TrainOptions(_Config):
    """Data and optimisation options of a run (the architecture is a separate config).

    ``task``: ``'shapes:<task>'`` (a name in ``jaxgan.data.TASKS``), ``'digits'`` or
    ``'folder:PATH'`` (any folder of images, one sub-folder per class) or ``'tfds:NAME'`` (a
    TFDS dataset already prepared in ``data_dir``; nothing is downloaded) for the classifier;
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
    data_dir: str = ""

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


def as_config(cls, obj):
    """``obj`` if it is a ``cls`` already, else ``cls.from_dict(obj)`` (None: the defaults)."""
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


def train_loop(step_fn, state, data, opts: TrainOptions, progress: bool, desc: str):
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
