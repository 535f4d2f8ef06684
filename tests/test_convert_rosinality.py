"""rosinality ``.pt`` checkpoints (torch zip and legacy formats) -> jaxgan, torch-free.

The inputs are made from the official fixtures through the inverse name mapping
(``tests/torchfree.py``), so the converted networks must reproduce the official images and
logits (<= 1e-4).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import load_fixture
from jaxgan import model
from jaxgan.checkpoint import load_network
from jaxgan.cli import main
from jaxgan.convert import ConversionError, convert
from jaxgan.convert.torch_save import TorchSaveError, read_torch_save
from torchfree import Global, NewObj, official_to_rosinality_d, official_to_rosinality_g, torch_save

TOL = 1e-4


@pytest.fixture(scope="module")
def fixtures():
    g, g_io, meta = load_fixture("fixture_g32_perturbed")
    d, d_io, _ = load_fixture("fixture_d32_perturbed")
    return g, g_io, d, d_io, meta


def _ckpt(fixtures, with_d=True):
    g, _, d, _, meta = fixtures
    rg = official_to_rosinality_g(g, 32, meta["mapping_num_layers"])
    obj = {"g_ema": rg, "latent_avg": g["mapping.w_avg"]}
    if with_d:
        obj.update(g=rg, d=official_to_rosinality_d(d, 32), ada_aug_p=0.25,
                   args=NewObj(Global("argparse", "Namespace"), {"size": 32, "n_mlp": 2}))
    return obj


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_torch_save_reader_round_trip(tmp_path, legacy):
    sd = {"a": np.arange(12, dtype=np.float32).reshape(3, 4),
          "t": np.arange(6, dtype=np.float32).reshape(2, 3).T,     # non-contiguous
          "n": np.arange(5, dtype=np.int64), "s": np.float32(2.5) * np.ones((), np.float32)}
    torch_save({"sd": sd, "x": 3, "args": NewObj(Global("argparse", "Namespace"), {"k": 1})},
               tmp_path / "f.pt", legacy=legacy)
    got = read_torch_save(tmp_path / "f.pt")
    assert got["x"] == 3 and dict(got["args"]) == {"k": 1}
    for k, v in sd.items():
        np.testing.assert_array_equal(got["sd"][k], v)
        assert got["sd"][k].shape == v.shape


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_rosinality_generator_and_discriminator_match_official(fixtures, tmp_path, legacy):
    _, g_io, _, d_io, _ = fixtures
    torch_save(_ckpt(fixtures), tmp_path / "ckpt.pt", legacy=legacy)
    written = convert(tmp_path / "ckpt.pt", tmp_path / "ck", allow_pickle=True)
    assert sorted(p.name for p in written) == ["D", "G", "G_ema"]
    G, gv = load_network(tmp_path / "ck")                              # G_ema
    img = model.generate(G, gv, np.asarray(g_io["z"]))
    assert float(np.abs(np.asarray(img).transpose(0, 3, 1, 2) - g_io["img"]).max()) <= TOL
    img = model.generate(G, gv, np.asarray(g_io["z"]), truncation_psi=0.7)   # latent_avg -> w_avg
    assert float(np.abs(np.asarray(img).transpose(0, 3, 1, 2) - g_io["img_psi07"]).max()) <= TOL
    D, dv = load_network(tmp_path / "ck", "D")
    logits = model.discriminate(D, dv, np.asarray(d_io["img"]).transpose(0, 2, 3, 1))
    np.testing.assert_allclose(logits, d_io["logits"], atol=TOL, rtol=0)


def test_cli_convert_pt_and_errors(fixtures, tmp_path, capsys):
    g, g_io, _, _, _ = fixtures
    torch_save(_ckpt(fixtures, with_d=False), tmp_path / "g.pt")
    assert main(["convert", str(tmp_path / "g.pt"), str(tmp_path / "ck")]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "g.pt"), str(tmp_path / "ck"), "--allow-pickle"]) == 0
    capsys.readouterr()
    np.savez(tmp_path / "z.npz", z=g_io["z"])
    assert main(["generate", "--ckpt", str(tmp_path / "ck"), "--z-file", str(tmp_path / "z.npz"),
                 "--save-npz", "--outdir", str(tmp_path / "out")]) == 0
    img = np.load(tmp_path / "out" / "images.npz")["img"]
    assert np.abs(img - g_io["img"]).max() <= TOL
    # A missing key is one line naming it.
    broken = _ckpt(fixtures, with_d=False)
    del broken["g_ema"]["convs.1.conv.modulation.bias"]
    torch_save(broken, tmp_path / "bad.pt")
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "bad.pt"), str(tmp_path / "ck2"), "--allow-pickle"]) == 2
    err = capsys.readouterr().err
    assert "missing key 'convs.1.conv.modulation.bias'" in err and len(err.strip().splitlines()) == 1
    # Not a checkpoint / not torch.save at all / TorchScript.
    torch_save({"foo": np.zeros(3, np.float32), "bar": 1}, tmp_path / "other.pt")
    with pytest.raises(ConversionError, match="neither a rosinality checkpoint"):
        convert(tmp_path / "other.pt", tmp_path / "ck3", allow_pickle=True)
    (tmp_path / "junk.pt").write_bytes(b"\x80\x02K\x01.")
    with pytest.raises(TorchSaveError, match="not a torch.save file"):
        read_torch_save(tmp_path / "junk.pt")
    import zipfile  # noqa: PLC0415
    with zipfile.ZipFile(tmp_path / "script.pt", "w") as z:
        z.writestr("m/code/__torch__.py", "x")
        z.writestr("m/constants.pkl", b"")
    with pytest.raises(TorchSaveError, match="TorchScript"):
        read_torch_save(tmp_path / "script.pt")


def test_refuses_unknown_globals(tmp_path):
    torch_save({"g_ema": {"x": Global("os", "system")}}, tmp_path / "evil.pt")
    from jaxgan.convert.pickle_reader import UnsafePickleError  # noqa: PLC0415
    with pytest.raises(UnsafePickleError, match="os.system"):
        read_torch_save(tmp_path / "evil.pt")
