"""docs/notebooks/quickstart.ipynb runs top to bottom (nbclient) and shows what it claims.

The notebook uses only the built-in networks (no training, no downloads). Checked: no cell
fails, images are shown inline, the inversion reconstructs the held-out scenes (PSNR above the
mean-image baseline of those scenes, computed here independently), and the style edit changes
the image.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "quickstart.ipynb"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_quickstart_notebook_executes_and_shows_results(monkeypatch):
    from jaxgan.data import make_task_dataset, to_float
    root = str(NOTEBOOK.parent.parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it unexecuted"
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4                                   # samples, inversion, edit, views
    out = "\n".join(_text(c) for c in code)
    assert "G_shapes32_60k" in out and "(8, 8, 64) (8, 32, 32, 3)" in out
    psnr = np.array([float(v) for v in re.search(r"PSNR per image \(dB\): \[([^\]]*)\]", out)
                     .group(1).split()])
    x = np.asarray(to_float(make_task_dataset("shape", 8, 32, 0, start=10**6)["image"]), np.float32)
    baseline = 10 * np.log10(4.0 / np.mean((x - x.mean(0)) ** 2))   # predicting the mean scene
    assert psnr.shape == (8,) and psnr.mean() > baseline + 3, (psnr, baseline)
    change = float(re.search(r"mean \|image change\| from -3 to \+3: ([0-9.]+)", out).group(1))
    assert change > 0.02
    acc = [float(a) for a in re.findall(r"alpha [0-9.]+: accuracy ([0-9.]+)", out)]
    assert len(acc) == 3 and all(0 <= a <= 1 for a in acc)
