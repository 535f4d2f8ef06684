"""Converter errors are one line naming the key / shape / format (exit code 2 on the CLI)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import load_fixture
from jaxgan.cli import main
from jaxgan.convert import ConversionError, convert


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.parametrize("drop,fragment", [
    ("synthesis.b4.const", "missing key 'synthesis.b4.const'"),
    ("synthesis.b16.conv1.weight", "missing key 'synthesis.b16.conv1.weight'"),
    ("synthesis.b32.torgb.weight", "missing key 'synthesis.b32.torgb.weight'"),
    ("synthesis.b8.conv0.affine.bias", "synthesis.b8.conv0.affine.bias"),
])
def test_missing_generator_key_is_one_line(tmp_path, capsys, drop, fragment):
    state, _, _ = load_fixture("fixture_g32")
    del state[drop]
    np.savez(tmp_path / "g.npz", **state)
    with pytest.raises(ConversionError, match=fragment.replace(".", r"\.")):
        convert(tmp_path / "g.npz", tmp_path / "ck")
    rc, err = _cli(capsys, "convert", tmp_path / "g.npz", tmp_path / "ck2")
    assert rc == 2 and fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_discriminator_key_and_bad_shape(tmp_path, capsys):
    state, _, _ = load_fixture("fixture_d32")
    bad = dict(state)
    del bad["b32.fromrgb.weight"]
    np.savez(tmp_path / "d.npz", **bad)
    rc, err = _cli(capsys, "convert", tmp_path / "d.npz", tmp_path / "ck")
    assert rc == 2 and "missing key 'b32.fromrgb.weight'" in err
    bad = dict(state, **{"b16.conv0.weight": np.zeros((64, 64), np.float32)})
    np.savez(tmp_path / "d2.npz", **bad)
    rc, err = _cli(capsys, "convert", tmp_path / "d2.npz", tmp_path / "ck")
    assert rc == 2 and "'b16.conv0.weight' has shape (64, 64)" in err
    bad = dict(state, **{"b4.conv.resample_filter": np.ones(4, np.float32)})
    np.savez(tmp_path / "d3.npz", **bad)
    rc, err = _cli(capsys, "convert", tmp_path / "d3.npz", tmp_path / "ck")
    assert rc == 2 and "resample_filter" in err and "(4,)" in err


def test_unknown_format_is_named(tmp_path, capsys):
    (tmp_path / "net.ckpt").write_bytes(b"\0" * 16)
    rc, err = _cli(capsys, "convert", tmp_path / "net.ckpt", tmp_path / "ck")
    assert rc == 2 and "unsupported source type '.ckpt'" in err
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    rc, err = _cli(capsys, "convert", tmp_path / "bad.safetensors", tmp_path / "ck")
    assert rc == 2 and "cannot read" in err and ".safetensors" in err


def test_allow_pickle_help_is_truthful(capsys):
    assert main(["convert", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "never runs code from the file" in out and "trusted files only" not in out
