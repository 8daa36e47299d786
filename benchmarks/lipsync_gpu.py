"""Wav2Lip generator speed on CUDA: `python -m benchmarks.lipsync_gpu` (96 px faces, fp16, random weights).

Prints one line per batch size: model-only fps (tensors already on the GPU) and end-to-end fps (uint8 crops and
mel windows from host memory, masked + normalised on the GPU, faces back as uint8), as the live renderer runs.
Aim: >= 1000 fps on an H100. Exits with status 2 and a clear message when CUDA is absent.
"""
from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="1,16,64,256", help="comma-separated batch sizes")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed run per batch size")
    parser.add_argument("--fp32", action="store_true", help="full precision instead of fp16")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (slow first call)")
    parser.add_argument("--device", default="cuda", help="'cpu' only to smoke-test this script without a GPU")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: CUDA is not available (torch.cuda.is_available() is False); run this on a GPU machine "
              f"with a CUDA build of torch (this one: {torch.__version__})", file=sys.stderr)
        return 2
    from lipsync.wav2lip_model import Wav2Lip

    dtype = torch.float32 if args.fp32 else torch.float16
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    torch.backends.cudnn.benchmark = True
    model = Wav2Lip().eval().to(device, dtype).to(memory_format=torch.channels_last)
    if args.compile:
        model = torch.compile(model, mode="max-autotune-no-cudagraphs")
    name = torch.cuda.get_device_name(0) if on_gpu else "cpu (smoke test, not a benchmark)"
    print(f"# wav2lip 96px {str(dtype).removeprefix('torch.')} on {name}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if dtype == torch.float16 and not args.compile:
        # Half precision must not change the picture: compare with an fp32 copy on the same inputs.
        ref = Wav2Lip().eval().to(device)
        ref.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        mel_c, face_c = torch.rand(4, 1, 80, 16, device=device) * 8 - 4, torch.rand(4, 6, 96, 96, device=device)
        with torch.inference_mode():
            diff = (model(mel_c.half(), face_c.half().contiguous(memory_format=torch.channels_last)).float()
                    - ref(mel_c, face_c)).abs().max().item()
        print(f"# fp16 vs fp32 max |difference| on 4 frames: {diff * 255:.2f} / 255", flush=True)
        del ref

    for batch in [int(b) for b in args.batches.split(",") if b.strip()]:
        faces_u8 = torch.randint(0, 256, (batch, 96, 96, 3), dtype=torch.uint8)
        mels_cpu = torch.rand(batch, 80, 16) * 8 - 4
        if on_gpu:  # page-locked host buffers, as a real pipeline would reuse
            faces_u8, mels_cpu = faces_u8.pin_memory(), mels_cpu.pin_memory()
        faces = torch.rand(batch, 6, 96, 96, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        mels = mels_cpu.to(device, dtype).unsqueeze(1)

        def model_only() -> None:
            model(mels, faces)

        def end_to_end() -> None:
            crop = faces_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).to(dtype).div_(255.0)
            masked = crop.clone()
            masked[:, :, 48:] = 0
            x = torch.cat([masked, crop], dim=1).contiguous(memory_format=torch.channels_last)
            mel = mels_cpu.to(device, non_blocking=True).to(dtype).unsqueeze(1)
            out = model(mel, x)
            out.mul(255.0).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()

        results = []
        for fn in (model_only, end_to_end):
            with torch.inference_mode():
                for _ in range(3):
                    fn()
                sync()
                iters, start = 0, time.perf_counter()
                while time.perf_counter() - start < args.seconds:
                    fn()
                    iters += 1
                    if iters % 8 == 0:
                        sync()
                sync()
                results.append(batch * iters / (time.perf_counter() - start))
        mem = torch.cuda.max_memory_allocated() / 2**20 if on_gpu else 0.0
        print(f"batch {batch:4d}: model {results[0]:9.1f} fps, end-to-end {results[1]:9.1f} fps, "
              f"peak mem {mem:7.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
