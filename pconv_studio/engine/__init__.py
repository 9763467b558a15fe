"""The engine: weights, devices, resolution strategy, compositing, upscaling, image I/O. Plain Python + torch + numpy;
no Qt."""

from .device import DeviceChoice, select_device
from .imageio import (
    SUPPORTED_SUFFIXES, ImageInfo, check_mask_matches, load_image, load_mask, read_image, read_mask, save_image,
    save_mask,
)
from .inpainter import CancelToken, Inpainter, InpaintResult, Region, ResolutionConfig, plan_regions
from .upscale import Upscaler, UpscaleResult

__all__ = [
    "CancelToken", "DeviceChoice", "ImageInfo", "InpaintResult", "Inpainter", "Region", "ResolutionConfig",
    "SUPPORTED_SUFFIXES", "UpscaleResult", "Upscaler", "check_mask_matches", "load_image", "load_mask", "plan_regions",
    "read_image", "read_mask", "save_image", "save_mask", "select_device",
]
