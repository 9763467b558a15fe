"""Architecture configs: small frozen dataclasses with named presets (timm style).

The U-Net of Liu et al. is fully described by the encoder's widths and kernel sizes: every encoder layer halves
the resolution, and the decoder mirrors it (nearest upsampling, concatenation with the matching encoder level,
3x3 partial conv). `layer_specs` spells that out once; the network and the geometry-only mask propagation are
both built from it, so they cannot disagree about the geometry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

__all__ = ["UNetConfig", "LayerSpec", "PRESETS", "get_preset", "layer_specs"]


@dataclass(frozen=True)
class UNetConfig:
    """Widths and kernels of the encoder; the decoder mirrors it."""

    name: str
    encoder_channels: tuple[int, ...]
    encoder_kernels: tuple[int, ...]
    decoder_kernel: int = 3
    image_channels: int = 3

    def __post_init__(self) -> None:
        if len(self.encoder_channels) != len(self.encoder_kernels):
            raise ValueError("encoder_channels and encoder_kernels must have the same length")
        if not 2 <= len(self.encoder_channels) <= 10:
            raise ValueError("a U-Net needs between 2 and 10 levels")
        if any(c <= 0 for c in self.encoder_channels) or self.image_channels <= 0:
            raise ValueError("channel counts must be positive")
        if any(k <= 0 or k % 2 == 0 for k in (*self.encoder_kernels, self.decoder_kernel)):
            raise ValueError("kernel sizes must be positive and odd")

    @property
    def levels(self) -> int:
        return len(self.encoder_channels)

    @property
    def size_multiple(self) -> int:
        """Height and width are padded to a multiple of this (each encoder layer halves them)."""
        return 2**self.levels

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> "UNetConfig":
        fields = json.loads(text)
        fields["encoder_channels"] = tuple(fields["encoder_channels"])
        fields["encoder_kernels"] = tuple(fields["encoder_kernels"])
        return UNetConfig(**fields)


@dataclass(frozen=True)
class LayerSpec:
    """One partial-conv layer: where its input comes from and its geometry.

    `skip` is the encoder stage concatenated after upsampling (decoder only): -1 is the input image, i >= 0 the
    output of encoder layer i. Stride 2 layers downsample; decoder layers upsample their input first.
    """

    name: str
    out_channels: int
    kernel: int
    stride: int
    upsample: bool
    skip: int | None
    batch_norm: bool
    activation: str  # "relu", "leaky_relu" or "none"

    @property
    def padding(self) -> int:
        return self.kernel // 2


def layer_specs(config: UNetConfig) -> list[LayerSpec]:
    """Every layer in the order it is computed: encoder 1..L, then decoder L..1."""
    specs = [
        LayerSpec(
            name=f"enc{i + 1}",
            out_channels=channels,
            kernel=kernel,
            stride=2,
            upsample=False,
            skip=None,
            batch_norm=i > 0,
            activation="relu",
        )
        for i, (channels, kernel) in enumerate(zip(config.encoder_channels, config.encoder_kernels))
    ]
    for level in range(config.levels - 1, -1, -1):
        last = level == 0
        specs.append(
            LayerSpec(
                name=f"dec{level + 1}",
                out_channels=config.image_channels if last else config.encoder_channels[level - 1],
                kernel=config.decoder_kernel,
                stride=1,
                upsample=True,
                skip=level - 1,
                batch_norm=not last,
                activation="none" if last else "leaky_relu",
            )
        )
    return specs


PRESETS: dict[str, UNetConfig] = {
    # Liu et al. 2018, Table of the supplementary: 8 levels for 512x512 inputs, about 33 M parameters.
    "paper": UNetConfig(
        name="paper",
        encoder_channels=(64, 128, 256, 512, 512, 512, 512, 512),
        encoder_kernels=(7, 5, 5, 3, 3, 3, 3, 3),
    ),
    # Half the width and one level fewer: about 1/4.6 of the parameters, sized for laptops and for our
    # training budget (256x256 crops, bottleneck 2x2 at 256 and 4x4 at the 512 working size).
    "compact": UNetConfig(
        name="compact",
        encoder_channels=(32, 64, 128, 256, 256, 256, 256),
        encoder_kernels=(7, 5, 5, 3, 3, 3, 3),
    ),
}


def get_preset(name: str) -> UNetConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown architecture preset {name!r}; choose one of {sorted(PRESETS)}") from None
