"""The published Wav2Lip generator (96x96 faces), written to match the public checkpoints' keys and shapes.

Layout (from the paper's public code): a face encoder of 7 blocks (96 -> 1 px), an audio encoder for one
1x80x16 mel window, a decoder of 7 blocks with skip connections to the encoder, and an output block with a
sigmoid. Every conv is Conv2d + BatchNorm2d (+ residual) + ReLU, so state-dict keys read
``face_encoder_blocks.<i>.<j>.conv_block.<0|1>.<weight|bias|running_mean|...>``.
"""
from __future__ import annotations

import torch
from torch import nn

FACE_SIZE = 96


class Conv2d(nn.Module):
    """Conv + BatchNorm (+ identity residual) + ReLU, named ``conv_block`` as in the public checkpoints."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    """Transposed conv + BatchNorm + ReLU (decoder upsampling)."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding), nn.BatchNorm2d(cout)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(channels: int, count: int) -> list[nn.Module]:
    return [Conv2d(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


def _up(cin: int, cout: int, res_count: int, *, first: bool = False) -> nn.Sequential:
    if first:  # 1x1 -> 3x3
        return nn.Sequential(Conv2dTranspose(cin, cout, 3, 1, 0), *_res(cout, res_count))
    return nn.Sequential(Conv2dTranspose(cin, cout, 3, 2, 1, output_padding=1), *_res(cout, res_count))


class Wav2Lip(nn.Module):
    """Generator: (B,1,80,16) mel windows + (B,6,96,96) faces -> (B,3,96,96) faces in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(6, 16, 7, 1, 3)),  # 96
                nn.Sequential(Conv2d(16, 32, 3, 2, 1), *_res(32, 2)),  # 48
                nn.Sequential(Conv2d(32, 64, 3, 2, 1), *_res(64, 3)),  # 24
                nn.Sequential(Conv2d(64, 128, 3, 2, 1), *_res(128, 2)),  # 12
                nn.Sequential(Conv2d(128, 256, 3, 2, 1), *_res(256, 2)),  # 6
                nn.Sequential(Conv2d(256, 512, 3, 2, 1), *_res(512, 1)),  # 3
                nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),  # 1
            ]
        )
        self.audio_encoder = nn.Sequential(
            Conv2d(1, 32, 3, 1, 1), *_res(32, 2),
            Conv2d(32, 64, 3, (3, 1), 1), *_res(64, 2),
            Conv2d(64, 128, 3, 3, 1), *_res(128, 2),
            Conv2d(128, 256, 3, (3, 2), 1), *_res(256, 1),
            Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0),
        )  # fmt: skip
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(Conv2d(512, 512, 1, 1, 0)),  # 1
                _up(1024, 512, 1, first=True),  # 3
                _up(1024, 512, 2),  # 6
                _up(768, 384, 2),  # 12
                _up(512, 256, 2),  # 24
                _up(320, 128, 2),  # 48
                _up(160, 64, 2),  # 96
            ]
        )
        self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        x = faces
        skips = []
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(audio)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        return self.output_block(x)
