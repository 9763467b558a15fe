"""The model layer: partial convolution, the U-Net, configs and presets, mask propagation. Pure torch."""

from .config import PRESETS, LayerSpec, UNetConfig, get_preset, layer_specs
from .partial_conv import MaskGroups, PartialConv2d, window_sum
from .propagation import NetworkReach, network_reach, propagate_masks, propagate_ratios
from .unet import PConvUNet, UNetOutput, pad_to_multiple
from .weights import (
    UPSCALE_INPUT_KEY, UPSCALE_INPUTS, interpolate_networks, load_weights, read_weights_config, read_weights_metadata,
    save_weights,
)

__all__ = [
    "PRESETS", "UPSCALE_INPUT_KEY", "UPSCALE_INPUTS", "LayerSpec", "MaskGroups", "NetworkReach", "PConvUNet", "PartialConv2d", "UNetConfig", "UNetOutput",
    "get_preset", "interpolate_networks", "layer_specs", "load_weights", "network_reach", "pad_to_multiple",
    "propagate_masks", "propagate_ratios", "read_weights_config", "read_weights_metadata", "save_weights", "window_sum",
]
