#!/usr/bin/env python3
"""Re-encodes an uncompressed greyscale DICOM file (single- or multi-frame) as JPEG 2000 with pydicom
and Pillow (OpenJPEG), independently of medsynth, for the reader tests.

usage: make_jpeg2000.py IN.dcm OUT.dcm [--lossy] [--fragments N] [--no-bot]
       make_jpeg2000.py IN_FOLDER OUT_FOLDER [...]   (every file of a series, same names)

Default: JPEG 2000 Lossless Only (1.2.840.10008.1.2.4.90), reversible 5/3 wavelet. --lossy: JPEG 2000
(1.2.840.10008.1.2.4.91), irreversible 9/7 wavelet at 10:1. --fragments N splits each frame's
codestream into N fragments; --no-bot leaves the Basic Offset Table empty (a reader must then find
the frames by their codestream markers, or by one fragment per frame).
"""
import argparse
import io
import os

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate

p = argparse.ArgumentParser()
p.add_argument("src")
p.add_argument("out")
p.add_argument("--lossy", action="store_true")
p.add_argument("--fragments", type=int, default=1)
p.add_argument("--no-bot", action="store_true")
a = p.parse_args()


def convert(src, out):
    ds = pydicom.dcmread(src)
    assert ds.SamplesPerPixel == 1 and ds.BitsAllocated in (8, 16)
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    mode = "L" if ds.BitsAllocated == 8 else "I;16"
    store = np.uint8 if ds.BitsAllocated == 8 else np.uint16
    encoded = []
    for f in frames:
        # Pillow encodes unsigned samples only; a signed file's codestream then says unsigned while
        # PixelRepresentation says signed (as in pydicom's J2K_pixelrep_mismatch.dcm).
        img = Image.fromarray(f.astype(store), mode=mode)
        buf = io.BytesIO()
        if a.lossy:
            img.save(buf, format="JPEG2000", no_jp2=True, irreversible=True, quality_mode="rates", quality_layers=[10])
        else:
            img.save(buf, format="JPEG2000", no_jp2=True, irreversible=False)
        encoded.append(buf.getvalue())
    ds.PixelData = encapsulate(encoded, fragments_per_frame=a.fragments, has_bot=not a.no_bot)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.91" if a.lossy else "1.2.840.10008.1.2.4.90"
    if a.lossy:
        ds.LossyImageCompression = "01"
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out, write_like_original=False)


if os.path.isdir(a.src):
    os.makedirs(a.out, exist_ok=True)
    for name in sorted(os.listdir(a.src)):
        convert(os.path.join(a.src, name), os.path.join(a.out, name))
else:
    convert(a.src, a.out)
