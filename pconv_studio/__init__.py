"""PConv Studio: photo retouching with a partial-convolution U-Net (Liu et al. 2018)."""

__version__ = "0.1.0"
