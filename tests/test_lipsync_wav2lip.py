"""Wav2Lip renderer: public-format checkpoints load strictly, wrong ones are refused clearly, paste-back is clean."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync.base import RenderJob
from lipsync.face_paste import feather_mask, padded_box, paste_face, smooth_boxes
from lipsync.registry import RendererConfigError, build_renderer
from lipsync.settings import LipsyncSettings
from lipsync.synthetic_avatar import SyntheticFaceAvatar
from lipsync.wav2lip_checkpoint import CheckpointError, load_wav2lip
from lipsync.wav2lip_model import Wav2Lip


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared CPU, more threads oversubscribe and run many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randomised() -> Wav2Lip:
    torch.manual_seed(0)
    model = Wav2Lip()
    # Non-trivial BatchNorm statistics, so a wrong mapping of buffers would change the output.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.num_batches_tracked.fill_(1000)
    return model


def _tiny_state() -> dict[str, torch.Tensor]:
    """The generator's keys and shapes, each a stride-0 view of one number: a few kB on disk instead of 145 MB."""
    return {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in Wav2Lip().state_dict().items()}


@pytest.fixture(scope="module")
def public_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A file laid out as the released wav2lip.pth: DataParallel keys inside 'state_dict', plus training state."""
    state = _randomised().state_dict()
    path = tmp_path_factory.mktemp("w2l") / "wav2lip_gan.pth"
    torch.save(
        {
            "state_dict": {f"module.{k}": v for k, v in state.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.5, 0.999), "params": [0, 1]}]},
            "global_step": 250000,
            "global_epoch": 120,
        },
        path,
    )
    return path, state


@pytest.fixture(scope="module")
def renderer(public_checkpoint):
    path, _ = public_checkpoint
    settings = LipsyncSettings(renderer="wav2lip", device="cpu", wav2lip_checkpoint=str(path), batch_size=2)
    return build_renderer(settings, None)


def test_public_layer_names_and_shapes() -> None:
    state = Wav2Lip().state_dict()
    known = {
        "face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
        "face_encoder_blocks.2.3.conv_block.0.weight": (64, 64, 3, 3),
        "face_encoder_blocks.6.1.conv_block.0.weight": (512, 512, 1, 1),
        "audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
        "audio_encoder.11.conv_block.0.weight": (512, 256, 3, 3),
        "audio_encoder.12.conv_block.0.weight": (512, 512, 1, 1),
        "face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # ConvTranspose: (in, out, k, k)
        "face_decoder_blocks.6.0.conv_block.0.weight": (160, 64, 3, 3),
        "output_block.0.conv_block.0.weight": (32, 80, 3, 3),
        "output_block.1.weight": (3, 32, 1, 1),
    }
    for key, shape in known.items():
        assert tuple(state[key].shape) == shape, key
    assert len(state["face_encoder_blocks.0.0.conv_block.1.num_batches_tracked"].shape) == 0
    with torch.inference_mode():
        out = Wav2Lip().eval()(torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96))
    assert out.shape == (1, 3, 96, 96) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_public_checkpoint_loads_strictly(public_checkpoint) -> None:
    path, state = public_checkpoint
    model = load_wav2lip(path)
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    for key in ("audio_encoder.3.conv_block.1.running_var", "face_decoder_blocks.4.1.conv_block.0.weight"):
        assert torch.equal(loaded[key], state[key])
    assert not model.training


def test_bare_state_dict_without_prefix_loads(tmp_path: Path) -> None:
    state = _tiny_state()
    path = tmp_path / "bare.pth"
    torch.save(state, path)
    assert set(load_wav2lip(path).state_dict()) == set(state)


def test_wrong_keys_are_refused_with_a_listing(tmp_path: Path) -> None:
    state = _tiny_state()
    state["extra_head.weight"] = torch.zeros(3)
    del state["output_block.1.bias"]
    path = tmp_path / "wrong.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_wav2lip(path)
    text = str(err.value)
    assert str(path) in text
    assert "missing keys: output_block.1.bias" in text
    assert "unexpected keys: extra_head.weight" in text


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    state = _tiny_state()
    state["output_block.1.weight"] = torch.zeros(3, 64, 1, 1)
    path = tmp_path / "shape.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=r"output_block\.1\.weight \(3, 64, 1, 1\) != \(3, 32, 1, 1\)"):
        load_wav2lip(path)


def test_missing_checkpoint_names_file_place_and_key(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "wav2lip_gan.pth"
    settings = LipsyncSettings(renderer="wav2lip", device="cpu", wav2lip_checkpoint=str(missing))
    with pytest.raises(RendererConfigError) as err:
        build_renderer(settings, None)
    text = str(err.value)
    assert str(missing) in text and "lipsync.wav2lip_checkpoint" in text
    assert "nothing is downloaded" in text and "wav2lip_gan.pth" in text
    assert "\n" not in text  # one line for the operator


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_arbitrary_pickles_are_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pth"
    with path.open("wb") as out:
        pickle.dump({"state_dict": {}, "hook": _Evil()}, out)
    with pytest.raises(CheckpointError, match="wav2lip_allow_pickle"):
        load_wav2lip(path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_wav2lip(garbage)


def test_unknown_renderer_names_the_key() -> None:
    with pytest.raises(RendererConfigError, match=r"lipsync\.renderer.*unknown renderer 'wav3lip'.*viseme"):
        build_renderer(LipsyncSettings(renderer="wav3lip"), None)


def test_renders_frames_and_leaves_everything_outside_the_face_box(renderer) -> None:
    avatar = SyntheticFaceAvatar(200, 160, loop_length=8)
    rng = np.random.default_rng(3)
    audio = (rng.normal(0, 4000, (1920 * 3, 2))).astype(np.int16)
    job = RenderJob(audio=audio, sample_rate=48000, fps=25, loop_indices=[3, 4, 5], avatar=avatar)
    frames = list(renderer.render(job))
    assert len(frames) == 3  # one full batch of 2 and a partial one
    boxes = renderer.boxes_for(avatar)
    for idx, frame in zip(job.loop_indices, frames):
        assert frame.shape == (160, 200, 3) and frame.dtype == np.uint8
        idle = avatar.frame(idx)
        x, y, w, h = boxes[idx]
        outside = np.ones(frame.shape[:2], bool)
        outside[y : y + h, x : x + w] = False
        assert np.array_equal(frame[outside], idle[outside])
        assert np.abs(frame[y : y + h, x : x + w].astype(int) - idle[y : y + h, x : x + w]).mean() > 1.0
        # Default paste is the mouth/jaw part only: eyes and brows stay sharp from the loop frame.
        top = int(0.4 * h)
        assert np.array_equal(frame[y : y + top], idle[y : y + top])
    # Padded with the default chin room and clipped to the frame.
    fx, fy, fw, fh = avatar.face_box(4)
    bx, by, bw, bh = boxes[4]
    assert abs(by - fy) <= 2 and abs((by + bh) - (fy + fh + 10)) <= 2


def test_batches_do_not_change_the_result(renderer) -> None:
    from lipsync.wav2lip_renderer import Wav2LipRenderer

    avatar = SyntheticFaceAvatar(160, 120, loop_length=6)
    audio = (np.random.default_rng(5).normal(0, 3000, (1920 * 2, 2))).astype(np.int16)
    outs = []
    for batch in (1, 2):
        settings = renderer.settings.model_copy(update={"batch_size": batch})
        r = Wav2LipRenderer(settings, device="cpu", model=renderer.model)
        job = RenderJob(audio=audio, sample_rate=48000, fps=25, loop_indices=[0, 1], avatar=avatar)
        outs.append(np.stack(list(r.render(job))).astype(int))
    assert np.abs(outs[0] - outs[1]).max() <= 1


def test_clear_stops_a_render_before_the_next_batch(renderer) -> None:
    avatar = SyntheticFaceAvatar(120, 96, loop_length=6)
    audio = np.zeros((1920 * 6, 2), np.int16)
    job = RenderJob(audio=audio, sample_rate=48000, fps=25, loop_indices=list(range(6)), avatar=avatar)
    frames = renderer.render(job)
    got = [next(frames)]
    renderer.clear()
    got += list(frames)
    assert len(got) == renderer.settings.batch_size  # the rest of the batch in flight, then nothing


def test_paste_back_matches_colour_at_the_seam_and_stays_in_the_box() -> None:
    rng = np.random.default_rng(9)
    frame = (rng.normal(120, 10, (80, 100, 3))).clip(0, 255).astype(np.uint8)
    before = frame.copy()
    box = (30, 20, 40, 48)
    x, y, w, h = box
    # A generated face that is 50 levels too bright and has a mouth-like dark bar in the middle.
    face = before[y : y + h, x : x + w].astype(np.float32) + 50
    face[20:28, 10:30] = 20
    paste_face(frame, box, face, feather=0.2)
    outside = np.ones(frame.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(frame[outside], before[outside])
    mask = feather_mask(w, h, 0.2)[..., 0]
    ring = (mask > 0.02) & (mask < 0.98)
    region, orig = frame[y : y + h, x : x + w].astype(float), before[y : y + h, x : x + w].astype(float)
    assert abs(region[ring].mean() - orig[ring].mean()) < 3.0  # the seam has the original's colour
    assert region[24, 20].mean() < orig[24, 20].mean() - 50  # the generated content did land


def test_box_helpers() -> None:
    assert padded_box((10, 10, 50, 50), (0, 10, 0, 0), 100, 65) == (10, 10, 50, 55)
    assert padded_box((0, 0, 50, 50), (5, 5, 5, 5), 52, 52) == (0, 0, 52, 52)
    jitter = [(100 + (3 if i % 2 else -3), 50, 80, 90) for i in range(20)]
    smooth = smooth_boxes(jitter, 5)
    xs = np.array([b[0] for b in smooth[2:-2]])
    assert np.ptp(xs) <= 2 and smooth[5][2:] == (80, 90)


class _PackLike(SyntheticFaceAvatar):
    """Carries precomputed 96x96 crops and the (padded) boxes they were cut from, as avatar packs do."""

    face_crop_size = 96

    def face_crop_box(self, loop_index: int):
        x, y, w, h = self.face_box(loop_index)
        return (x - 2, y, w + 4, h + 12)

    def face_crop(self, loop_index: int) -> np.ndarray:
        return np.full((96, 96, 3), 40 + loop_index, np.uint8)  # recognisable, unlike a fresh crop


def test_pack_crops_and_boxes_are_used_as_given(renderer, monkeypatch: pytest.MonkeyPatch) -> None:
    avatar = _PackLike(200, 160, loop_length=6)
    seen = []
    real_infer = renderer.infer
    monkeypatch.setattr(renderer, "infer", lambda mels, crops: seen.append(crops.copy()) or real_infer(mels, crops))
    audio = np.zeros((1920 * 2, 2), np.int16)
    job = RenderJob(audio=audio, sample_rate=48000, fps=25, loop_indices=[2, 3], avatar=avatar)
    frames = list(renderer.render(job))
    crops = np.concatenate(seen)
    assert [int(c[0, 0, 0]) for c in crops] == [42, 43]
    assert renderer.boxes_for(avatar)[2] == avatar.face_crop_box(2)
    x, y, w, h = avatar.face_crop_box(2)
    outside = np.ones((160, 200), bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(frames[0][outside], avatar.frame(2)[outside])


def test_generated_face_fades_in_and_out(renderer) -> None:
    assert renderer.settings.wav2lip_fade_frames == 3
    fades = [renderer._fade(k, 10) for k in range(10)]
    assert fades == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    frame = np.full((40, 40, 3), 100, np.uint8)
    face = np.full((96, 96, 3), 200.0, np.float32)
    face[40:56] = 0.0  # some structure, so colour matching keeps a difference to blend
    untouched = frame.copy()
    paste_face(untouched, (5, 5, 30, 30), face, 0.1, opacity=0.0)
    assert np.array_equal(untouched, frame)
    half, full = frame.copy(), frame.copy()
    paste_face(half, (5, 5, 30, 30), face, 0.1, opacity=0.5)
    paste_face(full, (5, 5, 30, 30), face, 0.1, opacity=1.0)
    d_half = np.abs(half.astype(int) - frame).sum()
    d_full = np.abs(full.astype(int) - frame).sum()
    assert 0.4 * d_full < d_half < 0.6 * d_full


def test_full_paste_covers_the_whole_box() -> None:
    lower, full = feather_mask(60, 80, 0.1, True)[..., 0], feather_mask(60, 80, 0.1, False)[..., 0]
    assert lower[:32].max() == 0.0 and lower[50:70, 20:40].min() > 0.95
    assert full[15:30, 20:40].min() > 0.95
    assert LipsyncSettings(wav2lip_paste="full").wav2lip_paste == "full"
