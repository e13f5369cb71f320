"""Read and write microscopy images: TIFF (tifffile) and PNG (Pillow).

Images are stacks of 2-D frames ``(frames, Y, X)`` in the file's dtype, with metadata
(axes, source dtype, pixel size) so that results keep the input's calibration.
"""

from .image import MIN_SIDE, SUPPORTED_DTYPES, Image, ImageMetadata
from .listing import list_images
from .reading import IMAGE_SUFFIXES, read_frames, read_image
from .writing import write_image

__all__ = [
    "IMAGE_SUFFIXES",
    "MIN_SIDE",
    "SUPPORTED_DTYPES",
    "Image",
    "ImageMetadata",
    "list_images",
    "read_frames",
    "read_image",
    "write_image",
]
