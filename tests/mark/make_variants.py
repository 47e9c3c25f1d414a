"""Copies of a marked volume as they are made outside medsynth, for the synthetic-mark tests.

  make_variants.py volumes IN.nii OUT_DIR PNG_STEP   NIfTI files rewritten by nibabel with a fresh
      header, noisy, rescaled, cropped and resampled copies, and 8-bit PNG slices
  make_variants.py strip-dicom IN_DIR OUT_DIR       a DICOM series re-written by pydicom without
      any attribute that says synthetic or medsynth
"""
import os
import sys

import numpy as np


def volumes(src, out, png_step):
    import nibabel as nib
    from PIL import Image
    from scipy import ndimage

    img = nib.load(src)
    a = np.asarray(img.dataobj, dtype=np.float32)
    aff = img.affine
    lo, hi = float(a.min()), float(a.max())
    span = hi - lo

    def save(name, data, affine=aff):
        # A new Nifti1Image: nibabel's own header, no descrip, no intent_name.
        nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), os.path.join(out, name))

    save("stripped.nii.gz", a)
    rng = np.random.default_rng(20)
    save("noise1pct.nii", a + rng.normal(0.0, 0.01 * span, a.shape))
    save("intensity110.nii", a * 1.1)
    save("intensity090.nii", a * 0.9)
    nx, ny = a.shape[0], a.shape[1]
    cx, cy = int(round(0.8 * nx)), int(round(0.8 * ny))
    ox, oy = (nx - cx) // 3, (ny - cy) // 2  # off-centre, not on the tile grid
    save("crop80.nii", a[ox:ox + cx, oy:oy + cy, :])
    for name, zoom in (("spacing080.nii", 1.25), ("spacing125.nii", 0.8)):
        save(name, ndimage.zoom(a, zoom, order=1), aff @ np.diag([1 / zoom, 1 / zoom, 1 / zoom, 1]))
    png = os.path.join(out, "png")
    os.makedirs(png, exist_ok=True)
    for k in range(png_step // 2, a.shape[2], png_step):
        s = np.round((a[:, :, k] - lo) / span * 255.0).clip(0, 255).astype(np.uint8)
        # As a picture: rows top to bottom (anterior up), columns left to right.
        Image.fromarray(np.ascontiguousarray(s.T[::-1])).save(os.path.join(png, "slice%03d.png" % k))


def strip_dicom(src, out):
    import pydicom

    os.makedirs(out, exist_ok=True)
    drop = ("DerivationDescription", "DerivationCodeSequence", "ImageComments", "SoftwareVersions", "Manufacturer",
            "ManufacturerModelName", "SeriesDescription", "StudyDescription", "BurnedInAnnotation",
            "ContentQualification", "ApplicableSafetyStandardDescription", "PatientName")

    def clean(ds):
        for kw in drop:
            if kw in ds:
                delattr(ds, kw)
        for elem in list(ds):
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif isinstance(elem.value, (str, bytes)) or elem.VR in ("LO", "LT", "SH", "ST", "UT", "CS", "PN"):
                text = elem.value.decode("latin-1", "replace") if isinstance(elem.value, bytes) else str(elem.value)
                if "synth" in text.lower():
                    del ds[elem.tag]

    for name in sorted(os.listdir(src)):
        ds = pydicom.dcmread(os.path.join(src, name))
        clean(ds)
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        if "ImplementationVersionName" in ds.file_meta:
            ds.file_meta.ImplementationVersionName = "PYDICOM"
        ds.file_meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
        ds.save_as(os.path.join(out, name), write_like_original=False)


if __name__ == "__main__":
    if sys.argv[1] == "volumes":
        volumes(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "strip-dicom":
        strip_dicom(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown mode " + sys.argv[1])
