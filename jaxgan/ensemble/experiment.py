"""The gan-ensembling experiment end to end on a built-in shapes task.

1. Data: ``train`` = scenes ``[0, num_train)`` (deliberately few), ``val`` / ``test`` =
   scenes from ``data_start`` on (outside the generator's training scenes ``[0, 20000)``).
2. A weak classifier (few examples, no flip / shift augmentation) trained with
   :func:`jaxgan.classify.make_classifier_step`.
3. Inversion of train (for the mitigation), val and test images with the inversion package
   (:class:`jaxgan.dataplus.Inverter`: encoder init + W+ optimisation, batched and jitted);
   latents cached on disk under a hash of (generator weights, images, inversion settings,
   encoder weights), so sweeping perturbations never re-inverts. Without ``--encoder`` one
   is trained with :func:`jaxgan.invert.encoder.train_encoder` (``encoder_steps > 0``, also
   cached) or the optimisation starts at the mean latent (``encoder_steps = 0``).
4. Views: the reconstruction ``G(w*)``, image-space jitter views and every GAN perturbation,
   ``K`` views per image, classified on device (:func:`jaxgan.ensemble.views.make_view_probs`;
   one compiled program per source for all specs).
5. alpha on val over 21 values, test accuracy with bootstrap intervals, paired gain
   intervals (:func:`jaxgan.ensemble.combine.evaluate_method`), for the weak classifier and
   (``mitigate``) for the same classifier trained on real + GAN reconstructions.
6. ``results.json``, ``results.md``, ``alpha_<classifier>.png`` and ``views/*.png``
   (:mod:`jaxgan.ensemble.report`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import jax
import numpy as np

from jaxgan import model
from jaxgan.data import get_task, make_task_dataset, to_float, to_uint8
from jaxgan.ensemble.combine import alpha_grid, bootstrap_ci, evaluate_method
from jaxgan.ensemble.conditional import per_class, task_to_generator_classes
from jaxgan.ensemble.perturb import PerturbSpec, dummy_basis, parse_spec, pca_basis
from jaxgan.ensemble.latents import blocked, invert_cached, tree_digest
from jaxgan.ensemble.views import JitterSpec, make_view_probs, params_for
from jaxgan.progress import progress as progress_reporter
from jaxgan.invert import DistanceWeights, ProjectConfig
from jaxgan.invert.encoder import EncoderTrainConfig, train_encoder
from jaxgan.classify import (TrainOptions, classifier_optimizer, init_classifier_state,
                             make_classifier_step)
from jaxgan.nets.classifier import classifier_probs, init_classifier
from jaxgan.nets.configs import ClassifierConfig
from jaxgan.checkpoint import load_network, save_network
from jaxgan.dataplus import Inverter
from jaxgan.nets.lpips import load_lpips
from jaxgan.ensemble import report

#: Default perturbations: the paper's grid (isotropic sigma 0.1-0.3, PCA top-20 beta 1-3,
#: style-mixing) on coarse / fine / all layers.
DEFAULT_PERTURBATIONS = tuple(f"{k}:{layers}:{m}" for layers in ("coarse", "fine", "all")
                              for k, m in [("isotropic", 0.1), ("isotropic", 0.2),
                                           ("isotropic", 0.3), ("pca", 1), ("pca", 2),
                                           ("pca", 3)]) + \
    ("stylemix:coarse", "stylemix:fine", "stylemix:all")
DEFAULT_JITTER = ("color", "crop", "color+crop")


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """Settings of :func:`run_experiment` (defaults: the README run).

    Attributes:
      task: ``'shapes:<task>'``.
      num_train, num_val, num_test: split sizes (train deliberately small).
      data_start: first scene index of val (test follows it).
      classifier_steps, classifier_batch, classifier_lr, classifier_widths: the weak classifier.
      num_views: K views per image; perturbations: ``parse_spec`` strings; jitter: subsets of
        ``color+crop(+flip)``; chunk: images per ``lax.map`` step; block: images
        per jitted view call (the last block padded: one compiled program for all splits).
      inv_steps, inv_lr, inv_l1, inv_l2, inv_lpips, inv_domain: W+ optimisation (domain term
        needs an encoder); inv_batch: images per inversion call.
      encoder_steps: train an encoder when none is given (0: start at the mean latent).
      pca_samples, top_k: PCA basis of sampled w.
      mitigate: also train the classifier on real + reconstructed train images.
      infer_class: a conditional generator: invert each image and render its views with
        the class the weak classifier predicts for it (:mod:`jaxgan.ensemble.conditional`).
      num_boot, level: bootstrap; seed: everything random (data, init, keys, bootstrap).
    """
    task: str = "shapes:shape"
    num_train: int = 24
    num_val: int = 200
    num_test: int = 400
    data_start: int = 100_000
    classifier_steps: int = 150
    classifier_batch: int = 16
    classifier_lr: float = 3e-3
    classifier_widths: tuple[int, ...] = (16, 32)
    num_views: int = 32
    perturbations: tuple[str, ...] = DEFAULT_PERTURBATIONS
    jitter: tuple[str, ...] = DEFAULT_JITTER
    chunk: int = 8
    block: int = 50
    inv_steps: int = 100
    inv_lr: float = 0.03
    inv_l1: float = 0.5
    inv_l2: float = 0.5
    inv_lpips: float = 0.0
    inv_domain: float = 0.25
    inv_batch: int = 100
    encoder_steps: int = 300
    pca_samples: int = 10000
    top_k: int = 20
    mitigate: bool = True
    infer_class: bool = False
    num_boot: int = 2000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self):
        if not self.task.startswith(("shapes:", "folder:")):
            raise ValueError(f"EnsembleConfig.task must be 'shapes:<task>' or 'folder:PATH' "
                             f"(with run_experiment's data=), got {self.task!r}")
        if self.task.startswith("shapes:"):
            get_task(self.task.partition(":")[2])
        for f in ("num_train", "num_val", "num_test", "num_views", "chunk", "block", "inv_batch"):
            if getattr(self, f) < 1:
                raise ValueError(f"EnsembleConfig.{f} must be >= 1, got {getattr(self, f)}")
        if self.data_start < self.num_train:
            raise ValueError("EnsembleConfig.data_start must be >= num_train (disjoint splits)")
        self.specs()

    def specs(self) -> tuple:
        """Parsed perturbations and jitter specs."""
        out = [parse_spec(p) for p in self.perturbations]
        for j in self.jitter:
            parts = set(j.split("+"))
            if not parts <= {"color", "crop", "flip"}:
                raise ValueError(f"bad jitter {j!r}: combine color, crop, flip with '+'")
            out.append(JitterSpec(color="color" in parts, crop="crop" in parts,
                                  flip="flip" in parts))
        return tuple(out)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def inversion_config(cfg: EnsembleConfig, with_encoder: bool):
    """The :class:`jaxgan.invert.ProjectConfig` of the experiment (W+, const noise)."""
    return ProjectConfig(space="wplus", num_steps=cfg.inv_steps, initial_learning_rate=cfg.inv_lr,
                         lr_rampup_length=0.0, lr_rampdown_length=0.25, initial_noise_factor=0.0,
                         optimize_noise=False, noise_init="const", w_avg_samples=2000,
                         domain_weight=cfg.inv_domain if with_encoder else 0.0,
                         distance=DistanceWeights(lpips=cfg.inv_lpips, l1=cfg.inv_l1,
                                                  l2=cfg.inv_l2))


# ----------------------------------------------------------------------------- classifier

def train_classifier(images_u8, labels, num_classes: int, cfg: EnsembleConfig,
                     progress: bool = False):
    """The deliberately weak classifier: no augmentation, ``cfg.classifier_steps`` AdamW steps.

    Returns:
      ``(module, variables)``.
    """
    images_u8, labels = np.asarray(images_u8), np.asarray(labels, np.int32)
    ccfg = ClassifierConfig(img_resolution=images_u8.shape[1], img_channels=images_u8.shape[3],
                            num_classes=num_classes, widths=tuple(cfg.classifier_widths),
                            task=cfg.task)
    module, variables = init_classifier(ccfg, jax.random.fold_in(jax.random.key(cfg.seed), 0))
    opts = TrainOptions(task=cfg.task, steps=cfg.classifier_steps,
                        batch_size=min(cfg.classifier_batch, len(labels)),
                        learning_rate=cfg.classifier_lr, warmup_steps=10, seed=cfg.seed)
    tx = classifier_optimizer(opts)
    step = make_classifier_step(module, tx, flip=False, shift=0)
    state = init_classifier_state(variables["params"], tx)
    rng = np.random.default_rng(cfg.seed)
    root = jax.random.fold_in(jax.random.key(cfg.seed), 1)
    for i in progress_reporter(range(opts.steps), desc="classifier", unit="step",
                               disable=not progress):
        idx = rng.choice(len(labels), opts.batch_size, replace=False)
        state, _ = step(state, {"image": images_u8[idx], "label": labels[idx]},
                        jax.random.fold_in(root, i))
    return module, {"params": state.params}


def make_image_probs(classifiers, batch: int = 250):
    """``probs(cls_vars, images_u8) -> [[N, num_classes] per classifier]``: softmax
    probabilities of each classifier on uint8 images (one compiled program, fixed blocks)."""
    fn = jax.jit(lambda vs, x: tuple(classifier_probs(m, v, x) for m, v in zip(classifiers, vs)))

    def probs(cls_vars, images_u8):
        x = to_float(np.asarray(images_u8))
        return list(blocked(lambda xb, _: fn(cls_vars, xb), x, np.arange(len(x)), batch))
    return probs


# ----------------------------------------------------------------------------- runner

def _load_encoder(G, g, encoder, cfg: EnsembleConfig, cache_dir, g_digest, progress):
    """``(E, e_vars, source)``: given, cached/trained, or ``(None, None, 'none')``."""
    if encoder is not None:
        if isinstance(encoder, (str, Path)):
            E, e_vars = load_network(encoder)
            return E, e_vars, str(encoder)
        return (*encoder, "given")
    if cfg.encoder_steps <= 0:
        return None, None, "none"
    ecfg = EncoderTrainConfig(steps=cfg.encoder_steps, batch_size=16, lpips=0.0, l2=1.0,
                              latent=1.0, real=0.0, channel_base=1024, channel_max=64)
    tag = hashlib.sha256(f"{g_digest}{ecfg}{cfg.seed}".encode()).hexdigest()[:24]
    path = None if cache_dir is None else Path(cache_dir) / f"encoder-{tag}"
    if path is not None and path.is_dir():
        E, e_vars = load_network(path)
        return E, e_vars, f"cached {path.name}"
    E, e_vars, _ = train_encoder(G, g, None, ecfg, key=jax.random.key(cfg.seed),
                                 progress=progress)
    if path is not None:
        save_network(path, E, e_vars, overwrite=True)
    return E, e_vars, f"trained {cfg.encoder_steps} steps (generated images, pixel L2 + latent)"


def run_experiment(G, g, cfg: EnsembleConfig = EnsembleConfig(), *, out=None, encoder=None,
                   cache_dir=None, progress: bool = True, lp=None, class_names=(),
                   data=None, classifier=None) -> dict:
    """Run the whole ensembling experiment (see the module docstring).

    Args:
      G, g: the generator.
      cfg: :class:`EnsembleConfig`.
      out: output directory for JSON / Markdown / PNGs (None: write nothing).
      encoder: encoder checkpoint path or ``(E, e_vars)`` (None: see ``cfg.encoder_steps``).
      cache_dir: latent / encoder cache (default ``out/cache``; None with ``out=None``).
      progress: tqdm bars.
      lp: LPIPS network (needed when ``cfg.inv_lpips > 0``).
      class_names: the generator's class names (``cfg.infer_class``: matched to the task's;
        empty: by index).
      data: a user's data instead of ``cfg.task``: ``{'train', 'val', 'test'}`` dicts of
        ``image`` uint8 ``[N, R, R, 3]`` at G's resolution and ``label`` int ``[N]``, plus
        ``class_names`` (e.g. :func:`jaxgan.data.labelled.split_folder` of a folder).
      classifier: a user's ``(module, variables)`` (:func:`jaxgan.contract.load_model`)
        evaluated instead of the weak classifier trained on ``train`` (then no mitigation).

    Returns:
      the results dict written to ``results.json`` (plus ``cache_hits``).
    """
    t0 = time.perf_counter()
    times = {}
    res = G.cfg.img_resolution
    if G.cfg.img_channels != 3:
        raise ValueError("run_experiment: shapes scenes are RGB; the generator must be too")
    if data is None:
        if not cfg.task.startswith("shapes:"):
            raise ValueError(f"run_experiment: task {cfg.task!r} needs data= (the split folder)")
        task = get_task(cfg.task.partition(":")[2])
        task_names, num_classes = tuple(task.class_names), task.num_classes
    else:
        task_names = tuple(data["class_names"])
        num_classes = len(task_names)
    if model.needs_class(G) != cfg.infer_class:
        raise ValueError("run_experiment: a conditional generator needs a class: bind one "
                         "(jaxgan.model.bind_class) or set infer_class=True" if
                         model.needs_class(G) else "run_experiment: infer_class=True needs a "
                         "conditional generator without a bound class")
    lookup = (task_to_generator_classes(task_names, class_names, G.cfg.c_dim)
              if cfg.infer_class else None)
    if out is not None and cache_dir is None:
        cache_dir = Path(out) / "cache"
    if cfg.inv_lpips and lp is None:
        lp = load_lpips("vgg16")
    specs = cfg.specs()

    # 1. data ------------------------------------------------------------------------------
    if data is None:
        tr = make_task_dataset(task, cfg.num_train, res, cfg.seed)
        va = make_task_dataset(task, cfg.num_val, res, cfg.seed, start=cfg.data_start)
        te = make_task_dataset(task, cfg.num_test, res, cfg.seed,
                               start=cfg.data_start + cfg.num_val)
    else:
        tr, va, te = data["train"], data["val"], data["test"]
        if tr["image"].shape[1:] != (res, res, 3):
            raise ValueError(f"run_experiment: data images are {tr['image'].shape[1:]}, the "
                             f"generator makes {(res, res, 3)}")

    # 2. weak classifier (or the user's) ----------------------------------------------------
    t = time.perf_counter()
    clf = (train_classifier(tr["image"], tr["label"], num_classes, cfg, progress)
           if classifier is None else tuple(classifier))
    mitigate = cfg.mitigate and classifier is None
    times["classifier_s"] = time.perf_counter() - t

    # 3. inversion (cached) ------------------------------------------------------------------
    t = time.perf_counter()
    g_digest = tree_digest((g, getattr(G, "class_vector", ())))   # + a bound class
    E, e_vars, enc_src = _load_encoder(G, g, encoder, cfg, cache_dir, g_digest, progress)
    e_digest = None if E is None else tree_digest(e_vars)
    inverter = Inverter(cfg=inversion_config(cfg, E is not None), E=E, e_vars=e_vars, lp=lp)
    inv_key = jax.random.fold_in(jax.random.key(cfg.seed), 2)
    hits = {}
    ws = {}
    splits = {"val": va, "test": te, **({"train": tr} if mitigate else {})}
    biggest = max(len(d["image"]) for d in splits.values())
    inv_batch, block = min(cfg.inv_batch, biggest), min(cfg.block, biggest)   # fixed shapes
    pred = None                       # infer_class: each image's predicted generator class
    if cfg.infer_class:
        probs1 = make_image_probs((clf[0],), block)
        pred = {k: lookup[np.argmax(probs1((clf[1],), d["image"])[0], -1)]
                for k, d in splits.items()}
    ws, hits = _invert_splits(G, g, splits, pred, inverter, cache_dir, g_digest, e_digest,
                              inv_batch, inv_key, progress)
    times["inversion_s"] = time.perf_counter() - t
    render = jax.jit(lambda g, w: model.synthesize(G, g, w))
    recon = {k: np.asarray(to_uint8(blocked(lambda w, _: (render(g, w),), w, np.arange(len(w)),
                                            block)[0])) for k, w in ws.items()}
    rec_mse = {k: float(np.mean((to_float(recon[k]) - to_float(splits[k]["image"])) ** 2))
               for k in ws}

    # 4. classifiers: weak, and (mitigation) trained on real + reconstructions ----------------
    classifiers = {"weak" if classifier is None else "user": clf}
    if mitigate:
        t = time.perf_counter()
        x_mix = np.concatenate([tr["image"], recon["train"]])
        y_mix = np.concatenate([tr["label"], tr["label"]])
        classifiers["weak+gan_recon"] = train_classifier(x_mix, y_mix, num_classes, cfg,
                                                         progress)
        times["classifier_mitigated_s"] = time.perf_counter() - t
    names = list(classifiers)
    mods = tuple(classifiers[n][0] for n in names)
    cvars = tuple(classifiers[n][1] for n in names)
    image_probs = make_image_probs(mods, block)
    p_img = {s: dict(zip(names, image_probs(cvars, splits[s]["image"])))
             for s in ("val", "test")}

    # 5. views -------------------------------------------------------------------------------
    t = time.perf_counter()
    basis = dummy_basis(G.cfg.w_dim)
    if any(isinstance(s, PerturbSpec) and s.kind == "pca" for s in specs):
        k = max(s.top_k for s in specs if isinstance(s, PerturbSpec) and s.kind == "pca")
        basis = pca_basis(G, g, jax.random.fold_in(jax.random.key(cfg.seed), 3),
                          cfg.pca_samples, min(k, G.cfg.w_dim))
    view_key = jax.random.fold_in(jax.random.key(cfg.seed), 4)
    # the reconstruction G(w*) (uint8, as saved) is the K = 1 "view"
    p_views = {"reconstruction": {s: dict(zip(names, image_probs(cvars, recon[s])))
                                  for s in ("val", "test")}}
    p_views.update(_view_probs(G, g, cfg, specs, mods, cvars, names, ws, va, te, pred,
                               block, basis, view_key, progress))
    times["views_s"] = time.perf_counter() - t

    # 6. combine -----------------------------------------------------------------------------
    results = {"config": cfg.to_dict(), "encoder": enc_src, "cache_hits": hits,
               "data": "task" if data is None else data.get("source", "user data"),
               "class_names": list(task_names),
               "reconstruction_mse": rec_mse,
               "num_views": cfg.num_views, "alphas": alpha_grid().tolist()}
    results["classifiers"], results["methods"] = _evaluate(cfg, names, p_img, p_views, va, te)
    times["total_s"] = time.perf_counter() - t0
    results["times"] = times
    results["kinds"] = {("reconstruction" if s is None else s.name):
                        ("reconstruction" if s is None else "image jitter"
                         if isinstance(s, JitterSpec) else s.kind) for s in [None, *specs]}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        report.write_results(results, out)
        report.save_alpha_plots(results, out)
        report.save_view_grids(G, g, te, ws["test"], recon["test"], specs, basis, view_key,
                               cfg, out / "views", classes=None if pred is None else pred["test"])
    return results


def _invert_splits(G, g, splits, pred, inverter, cache_dir, g_digest, e_digest, inv_batch,
                   inv_key, progress):
    """W+ latents of every split (cached); with ``pred`` (``infer_class``) each image through
    the generator bound to its predicted class.

    Returns:
      ``({split: ws [N, num_ws, w_dim]}, {split: cache hit})``.
    """
    ws, hits = {}, {}
    for name, d in splits.items():
        if pred is None:
            ws[name], hits[name] = invert_cached(G, g, d["image"], inverter, cache_dir,
                                                 g_digest, e_digest, inv_batch, inv_key, progress)
            continue
        got = []

        def inv(Gk, idx, d=d, got=got):
            w, hit = invert_cached(Gk, g, d["image"][idx], inverter, cache_dir,
                                   tree_digest((g, Gk.class_vector)), e_digest, inv_batch,
                                   inv_key, progress)
            got.append(hit)
            return w
        ws[name], hits[name] = per_class(G, pred[name], inv), all(got)
    return ws, hits


def _view_probs(G, g, cfg, specs, mods, cvars, names, ws, va, te, pred, block, basis, view_key,
                progress) -> dict:
    """Class probabilities of every view set on the val and test splits.

    Returns:
      ``{view set: {split: {classifier: probs [N, K, ...]}}}``.
    """
    fns = {}
    p_views: dict = {}
    max_shift = max([s.shift for s in specs if isinstance(s, JitterSpec)] + [0])
    for spec in progress_reporter(specs, desc="views", unit="view set", disable=not progress):
        src_kind = "jitter" if isinstance(spec, JitterSpec) else "gan"
        if src_kind not in fns:
            fns[src_kind] = make_view_probs(G, mods, src_kind, cfg.num_views, cfg.chunk,
                                            max_shift)
        name = spec.name
        p_views[name] = {}
        for split, d in (("val", va), ("test", te)):
            src = to_float(d["image"]) if src_kind == "jitter" else ws[split]
            off = 0 if split == "val" else cfg.num_val
            fn = fns[src_kind]
            params = params_for(spec, G.cfg.num_ws)
            if pred is not None and src_kind == "gan":        # each image with its class
                def by_class(Gk, idx, src=src, off=off, params=params):
                    if Gk not in fns:
                        fns[Gk] = make_view_probs(Gk, mods, "gan", cfg.num_views, cfg.chunk,
                                                  max_shift)
                    return blocked(lambda x, i, p: fns[Gk](g, cvars, x, view_key, i, p, basis),
                                   src[idx], idx + off, block, params)
                probs = per_class(G, pred[split], by_class)
            else:
                probs = blocked(lambda x, i, p: fn(g, cvars, x, view_key, i, p, basis), src,
                                np.arange(len(src)) + off, block, params)
            p_views[name][split] = dict(zip(names, probs))
    return p_views


def _evaluate(cfg, names, p_img, p_views, va, te):
    """Per classifier: test accuracy alone (bootstrap interval) and every view set's
    ensembling method (:func:`jaxgan.ensemble.combine.evaluate_method`).

    Returns:
      ``(classifiers {name: {test_acc, test_ci, val_acc}}, methods {name: {view set: ...}})``.
    """
    classifiers, methods = {}, {}
    for n in names:
        yt = te["label"]
        alone = np.argmax(p_img["test"][n], -1) == yt
        acc, lo, hi = bootstrap_ci(alone, cfg.num_boot, cfg.seed, cfg.level)
        classifiers[n] = {"test_acc": acc, "test_ci": [lo, hi],
                          "val_acc": float(np.mean(np.argmax(p_img["val"][n], -1)
                                                   == va["label"]))}
        methods[n] = {
            m: evaluate_method(p_img["val"][n], pv["val"][n], va["label"], p_img["test"][n],
                               pv["test"][n], yt, num_boot=cfg.num_boot, seed=cfg.seed,
                               level=cfg.level)
            for m, pv in p_views.items()}
    return classifiers, methods
