"""Training the PConv U-Net and scoring it: the loop, the losses, the hole masks and the evaluation protocol.

Nothing here imports Qt; inference lives in `pconv_studio.engine`, which this package uses but never the reverse.
"""
