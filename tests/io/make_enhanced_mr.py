#!/usr/bin/env python3
"""Writes an Enhanced MR Image Storage file of a NIfTI volume with pydicom and nibabel, independently
of medsynth, for the reader tests.

usage: make_enhanced_mr.py IN.nii[.gz] OUT.dcm [--volumes T] [--stacks S] [--echoes E]
                           [--drop-position K] [--claim-frames N] [--crop N] [--series-uid UID]
                           [--uniform-rescale] [--ordered]

Frames are written in a shuffled order (--ordered: volume by volume, slice by slice, as scanners do). Odd frames store 2*v with RescaleSlope 0.5 (the rescale is
per frame, as Philips writes it), so a reader must apply each frame's own Pixel Value
Transformation (--uniform-rescale: slope 1 everywhere). Volume t (TemporalPositionIndex t+1) holds v + 10*t, stack s holds v + 1000*s,
echo e (EffectiveEchoTime 10*(e+1)) holds v + 100*e.
"""
import argparse
import random

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

p = argparse.ArgumentParser()
p.add_argument("nifti")
p.add_argument("out")
p.add_argument("--volumes", type=int, default=1)
p.add_argument("--stacks", type=int, default=1)
p.add_argument("--echoes", type=int, default=1)
p.add_argument("--drop-position", type=int, default=-1)
p.add_argument("--claim-frames", type=int, default=0)
p.add_argument("--crop", type=int, default=0)
p.add_argument("--series-uid", default="")
p.add_argument("--uniform-rescale", action="store_true")
p.add_argument("--ordered", action="store_true")
a = p.parse_args()

img = nib.load(a.nifti)
data = np.asanyarray(img.dataobj)
if a.crop:
    data = data[: a.crop, : a.crop, :]
lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
di, dj = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
row, col = lps[:3, 0] / di, lps[:3, 1] / dj

frames = []  # (stack, echo, t, k)
for s in range(a.stacks):
    for e in range(a.echoes):
        for t in range(a.volumes):
            for k in range(data.shape[2]):
                frames.append((s, e, t, k))
if not a.ordered:
    random.Random(7).shuffle(frames)

SEQ_UID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR Image Storage
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.MediaStorageSOPClassUID = SEQ_UID
ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.SOPClassUID = SEQ_UID
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
ds.StudyInstanceUID = generate_uid()
ds.SeriesInstanceUID = a.series_uid or generate_uid()
ds.FrameOfReferenceUID = generate_uid()
ds.Modality = "MR"
ds.SeriesNumber = 7
ds.InstanceNumber = 1
ds.SeriesDescription = "enhanced test"
ds.PatientName = "TEST^ENHANCED"
ds.PatientID = "ENH"
ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
ds.SamplesPerPixel = 1
ds.PhotometricInterpretation = "MONOCHROME2"
ds.Rows, ds.Columns = data.shape[1], data.shape[0]
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
ds.NumberOfFrames = a.claim_frames or len(frames)

dim_org = generate_uid()
ds.DimensionOrganizationSequence = Sequence([Dataset()])
ds.DimensionOrganizationSequence[0].DimensionOrganizationUID = dim_org
dims = []
for pointer, group in ((0x00209056, 0x00209111), (0x00209128, 0x00209111), (0x00209057, 0x00209111)):
    d = Dataset()
    d.DimensionOrganizationUID = dim_org
    d.DimensionIndexPointer = pointer
    d.FunctionalGroupPointer = group
    dims.append(d)
ds.DimensionIndexSequence = Sequence(dims)

shared = Dataset()
orient = Dataset()
orient.ImageOrientationPatient = [float(x) for x in np.concatenate([row, col])]
shared.PlaneOrientationSequence = Sequence([orient])
measures = Dataset()
measures.PixelSpacing = [float(dj), float(di)]
measures.SliceThickness = float(np.linalg.norm(lps[:3, 2]))
shared.PixelMeasuresSequence = Sequence([measures])
ds.SharedFunctionalGroupsSequence = Sequence([shared])

per_frame, pixels = [], []
for n, (s, e, t, k) in enumerate(frames):
    item = Dataset()
    if n != a.drop_position:
        pos = Dataset()
        pos.ImagePositionPatient = [float(x) for x in (lps @ np.array([0, 0, k, 1.0]))[:3]]
        item.PlanePositionSequence = Sequence([pos])
    content = Dataset()
    content.StackID = str(s + 1)
    content.InStackPositionNumber = k + 1
    content.TemporalPositionIndex = t + 1
    content.DimensionIndexValues = [s + 1, t + 1, k + 1]
    item.FrameContentSequence = Sequence([content])
    echo = Dataset()
    echo.EffectiveEchoTime = 10.0 * (e + 1)
    item.MREchoSequence = Sequence([echo])
    values = data[:, :, k].T.astype(np.float64) + 10 * t + 1000 * s + 100 * e
    pvt = Dataset()
    pvt.RescaleIntercept = 0
    pvt.RescaleType = "US"
    if n % 2 and not a.uniform_rescale:
        pvt.RescaleSlope = 0.5
        values = values * 2
    else:
        pvt.RescaleSlope = 1
    item.PixelValueTransformationSequence = Sequence([pvt])
    per_frame.append(item)
    pixels.append(values.astype(np.uint16))
ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
ds.PixelData = np.stack(pixels).tobytes()
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.save_as(a.out, write_like_original=False)
