"""Train a small classifier and print its held-out accuracy.

Usage (CPU, a few minutes each)::

    jaxgan train-classifier --task shapes:shape       # preset shapes_shape, >= 98%
    jaxgan train-classifier --task digits             # preset digits, >= 95% (test split)
    jaxgan train-classifier --task shapes:is_circle --steps 300 --out out/is_circle
    jaxgan train-classifier --preset shapes_has_sun model.widths=8,16,32
    jaxgan train-classifier --data folder:my_images --out out/my_classifier   # your folder

(``python -m jaxgan.train.classifier`` is the same.) ``--task`` picks the data (``digits`` or
``shapes:<task>``, see ``jaxgan.data.TASKS``) and, without ``--preset``, the preset
(``configs/classifier.py``). Positional ``KEY=VALUE`` overrides (the syntax of every jaxgan
config; ``--set KEY=VALUE`` is the same) set any ``TrainOptions`` field (``steps=300``) or
model field (``model.depth=2``).
The checkpoint (``arch.json`` + orbax params + ``metrics.json``) goes to ``--out``
(default ``out/classifier_<task>``); load it with ``jaxgan.classify.load_model``.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from jaxgan.configs.classifier import PRESETS, get_config, preset_for_task
from jaxgan.errors import USER_ERRORS, one_line
from jaxgan.outputs import guard_replaced_dir

#: What a checkpoint directory holds (``jaxgan.classify.save_model``); ``--overwrite``
#: replaces a directory holding nothing else.
CHECKPOINT_FILES = ("arch.json", "params", "metrics.json")


def _parse_value(text: str):
    """``'3'`` -> 3, ``'1e-3'`` -> 0.001, ``'16,32'`` -> (16, 32), ``'True'``; else the string."""
    if "," in text:
        return tuple(_parse_value(t) for t in text.split(",") if t)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_parser(kind: str, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Flags shared by ``train-classifier`` and ``train-segmenter``.

    Args:
      kind: ``'classifier'`` or ``'segmenter'``.
      parser: add the flags to this parser (a ``jaxgan`` subcommand's) instead of a new one.

    Returns:
      The parser.
    """
    p = parser or argparse.ArgumentParser(prog=f"python -m jaxgan.train.{kind}",
                                          description=__doc__ if kind == "classifier" else None,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    if kind == "classifier":
        p.add_argument("--task", "--data", default=None, dest="task",
                       help="'digits', 'shapes:<task>', 'folder:PATH' (your images, one "
                            "sub-folder per class) or 'tfds:NAME' (a TFDS dataset prepared in "
                            "--data-dir; nothing is downloaded); default: the preset's")
        p.add_argument("--data-dir", dest="data_dir", default=None,
                       help="TFDS data directory of a tfds:NAME dataset")
    else:
        p.add_argument("--data", default=None, dest="task",
                       help="'shapes' (default) or 'folder:PATH' (PATH/images/ and "
                            "PATH/masks/<concept>/ with the same file names)")
    p.add_argument("--preset", default=None, choices=PRESETS, help="configs/classifier.py preset")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--seed", type=int, help="the one seed (data, init, order, augmentation)")
    p.add_argument("--resolution", type=int, help="image size")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lr", type=float, dest="learning_rate")
    p.add_argument("--num-train", type=int, dest="num_train", help="shapes training images")
    p.add_argument("--num-test", type=int, dest="num_test", help="shapes held-out images")
    p.add_argument("--test-fraction", type=float, dest="test_fraction",
                   help="share of a folder held out for the report (default 0.2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="the same as a positional KEY=VALUE override")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="override a TrainOptions field (steps=300), or a model field as model.KEY")
    p.add_argument("--out", default=None, help="checkpoint directory")
    p.add_argument("--no-save", action="store_true", help="do not write a checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing checkpoint at --out (never a directory with other "
                        "files)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def resolve_config(args: argparse.Namespace, kind: str) -> dict:
    """Preset + flags -> ``{'kind', 'train', 'model'}`` (values still unvalidated)."""
    task = getattr(args, "task", None)
    name = args.preset or (("segmenter_folder" if (task or "").startswith("folder:") else
                            "segmenter_shapes") if kind == "segmenter" else
                           preset_for_task(task or "shapes:shape"))
    cfg = get_config(name)
    if cfg["kind"] != kind:
        raise ValueError(f"preset {name!r} is a {cfg['kind']} preset, not a {kind} preset")
    if task:
        cfg["train"]["task"] = task
    for k in ("steps", "seed", "resolution", "batch_size", "learning_rate", "num_train",
              "num_test", "test_fraction", "data_dir"):
        if getattr(args, k, None) is not None:
            cfg["train"][k] = getattr(args, k)
    for item in [*args.set, *getattr(args, "overrides", [])]:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"override {item!r} is not of the form KEY=VALUE")
        where, _, field = key.rpartition(".")
        if where not in ("", "model", "train"):
            raise ValueError(f"--set key {key!r}: use FIELD, train.FIELD or model.FIELD")
        cfg["model" if where == "model" else "train"][field] = _parse_value(value)
    return cfg


def main(argv=None, kind: str = "classifier") -> int:
    """Parse flags, train, print the held-out metric, save. Returns the exit status."""
    args = build_parser(kind).parse_args(argv)
    try:
        return run(args, kind)
    except USER_ERRORS as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, kind: str = "classifier") -> int:
    """Train from parsed flags, print the held-out metric, save.

    Args:
      args: flags of :func:`build_parser`.
      kind: ``'classifier'`` or ``'segmenter'``.

    Returns:
      0.

    Raises:
      ValueError: a bad preset, flag or override.
    """
    from jaxgan import classify  # noqa: PLC0415 (keep --help fast)
    cfg = resolve_config(args, kind)
    tag = cfg["train"]["task"].replace(":", "_")
    if tag.startswith("folder_"):                       # out/classifier_<folder name>
        tag = "folder_" + Path(tag[len("folder_"):]).name
    out = None if args.no_save else (args.out or f"out/{kind}_{tag}")
    if out is not None:
        guard_replaced_dir(out, CHECKPOINT_FILES, args.overwrite)
    runner = classify.run_classifier if kind == "classifier" else classify.run_segmenter
    res = runner(cfg["train"], cfg["model"], out=out, progress=not args.no_progress)
    m = res["metrics"]
    if kind == "classifier":
        print(f"held-out accuracy: {m['test_accuracy']:.4f} on {m['num_test']} images "
              f"({cfg['train']['task']}, {m['num_train']} train)")
    else:
        per = ", ".join(f"{c} {v:.3f}" for c, v in m["iou"].items())
        print(f"held-out mean IoU: {m['mean_iou']:.4f} on {m['num_test']} images ({per})")
    print(f"time: {m['seconds']:.1f} s" + (f"; checkpoint: {res['path']}" if res["path"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
