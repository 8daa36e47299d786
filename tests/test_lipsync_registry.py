"""Renderer registry and device choice; importing lipsync stays light."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lipsync
from lipsync.base import IdleRenderer, renderer_names
from lipsync.registry import RendererConfigError, build_renderer, resolve_device
from lipsync.settings import LipsyncSettings
from lipsync.viseme_renderer import VisemeRenderer

ROOT = Path(__file__).resolve().parents[1]


def test_registered_names_and_defaults() -> None:
    assert {"none", "viseme", "wav2lip"} <= set(renderer_names())
    built = build_renderer(LipsyncSettings(), None)
    assert isinstance(built, VisemeRenderer) and built.device == "cpu"
    assert isinstance(build_renderer(LipsyncSettings(renderer="none"), None), IdleRenderer)
    assert isinstance(build_renderer(LipsyncSettings(renderer="wav2lip"), None, renderer="viseme"), VisemeRenderer)
    assert lipsync.build_renderer is build_renderer
    with pytest.raises(AttributeError):
        lipsync.no_such_thing  # noqa: B018


def test_device_choice() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RendererConfigError, match=r"lipsync\.device = 'cuda'"):
            resolve_device("cuda")


def test_bad_config_values_name_the_key() -> None:
    from pydantic import ValidationError

    bad_values = ({"device": "tpu"}, {"batch_size": 0}, {"face_pads": [1, 2]}, {"face_pads": [0, -5, 0, 0]},
                  {"viseme": {"gate_db": 3}}, {"wav2lip_paste": "half"})
    for bad in bad_values:
        with pytest.raises(ValidationError):
            LipsyncSettings.model_validate(bad)


def test_import_and_default_renderer_stay_light() -> None:
    code = (
        "import sys, lipsync, lipsync.settings\n"
        "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, 'heavy import'\n"
        "from lipsync.registry import build_renderer\n"
        "from lipsync.settings import LipsyncSettings\n"
        "build_renderer(LipsyncSettings(), None)\n"
        "assert 'torch' not in sys.modules, 'torch imported for the viseme renderer'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_check_renderer_for_doctor(tmp_path: Path) -> None:
    from lipsync.registry import check_renderer

    ok, detail = check_renderer(LipsyncSettings())
    assert ok and "viseme" in detail
    ok, detail = check_renderer(LipsyncSettings(renderer="wav2lip", device="cpu",
                                                wav2lip_checkpoint=str(tmp_path / "w.pth")))
    assert not ok and "lipsync.wav2lip_checkpoint" in detail
    (tmp_path / "w.pth").write_bytes(b"x" * 2048)  # existence only: doctor does not load weights
    ok, detail = check_renderer(LipsyncSettings(renderer="wav2lip", device="cpu",
                                                wav2lip_checkpoint=str(tmp_path / "w.pth")))
    assert ok and "cpu" in detail and "fp32" in detail
    ok, detail = check_renderer(LipsyncSettings(renderer="wav3lip"))
    assert not ok and "lipsync.renderer" in detail
