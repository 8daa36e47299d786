"""Load a public Wav2Lip checkpoint into :class:`~lipsync.wav2lip_model.Wav2Lip`, strictly, with clear refusals."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a checkpoint is actually loaded
    import torch

    from lipsync.wav2lip_model import Wav2Lip

CONFIG_KEY = "lipsync.wav2lip_checkpoint"


class CheckpointError(ValueError):
    """A Wav2Lip checkpoint that is missing or does not fit the architecture; worded for the operator."""


def missing_checkpoint_message(path: Path) -> str:
    """The one message shown when the configured checkpoint file does not exist."""
    return (
        f"Wav2Lip checkpoint not found: {path} ({path.resolve()}). "
        f"Put the public Wav2Lip weights (wav2lip_gan.pth or wav2lip.pth "
        f"from the Rudrabha/Wav2Lip release) at that path, or point the config key '{CONFIG_KEY}' at the file; "
        f"nothing is downloaded at run time. Without it, use renderer = \"viseme\" (no weights needed)."
    )


def extract_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The generator's tensors from a loaded checkpoint: ``{'state_dict': ...}`` or a bare dict, ``module.`` stripped."""
    import torch  # noqa: PLC0415

    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: not a Wav2Lip checkpoint (expected a dict with a 'state_dict' of tensors)")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: not a Wav2Lip checkpoint (entry {key!r} is not a named tensor)")
        # Checkpoints trained with DataParallel prefix every key with 'module.'.
        out[key[len("module.") :] if key.startswith("module.") else key] = value
    return out


def _listing(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def load_wav2lip(path: str | Path, *, allow_pickle: bool = False) -> Wav2Lip:
    """A Wav2Lip generator in eval mode on the CPU with the checkpoint's weights (exact key and shape match)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(missing_checkpoint_message(path))
    import torch  # noqa: PLC0415

    from lipsync.wav2lip_model import Wav2Lip  # noqa: PLC0415
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to unpickle arbitrary objects ({str(exc).splitlines()[0]}); if you trust this file, "
            f"set 'lipsync.wav2lip_allow_pickle = true'"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0]})") from None
    state = extract_state_dict(obj, path)
    model = Wav2Lip()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        raise CheckpointError(
            f"{path}: not the 96x96 Wav2Lip generator this renderer implements ({'; '.join(parts)}); "
            f"use wav2lip.pth or wav2lip_gan.pth (not the SyncNet expert or the discriminator)"
        )
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(f"{path}: tensor shapes do not match the Wav2Lip generator: {_listing(wrong, 3)}")
    model.load_state_dict(state, strict=True)
    return model.eval()
