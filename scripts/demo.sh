#!/usr/bin/env bash
# The main job, end to end on data that Debian ships (mricron-data's Colin27 T1):
# describe the volume, convert it, and read the conversion back.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_BUILD_DIR:-build}"
MEDSYNTH="$BUILD_DIR/pipeline/medsynth"
OUT="${MEDSYNTH_DEMO_OUT:-demo-out}"
CH2=/usr/share/mricron/templates/ch2.nii.gz
mkdir -p "$OUT"

echo "== medsynth info $CH2"
"$MEDSYNTH" info "$CH2"
echo "== medsynth convert $CH2 -> $OUT/ch2.mha and $OUT/ch2.nii.gz"
"$MEDSYNTH" convert "$CH2" "$OUT/ch2.mha" --force
"$MEDSYNTH" convert "$OUT/ch2.mha" "$OUT/ch2.nii.gz" --force
echo "== the middle axial slice as a PNG to look at: $OUT/ch2-slice90.png"
"$MEDSYNTH" convert "$CH2" "$OUT/ch2-slice90.png" --slice 90 --force
echo "== a DICOM series of ch2 written by plastimatch, read back by medsynth"
rm -rf "$OUT/ch2-dicom"
plastimatch convert --input "$CH2" --output-dicom "$OUT/ch2-dicom" >/dev/null
"$MEDSYNTH" info "$OUT/ch2-dicom"
"$MEDSYNTH" convert "$OUT/ch2-dicom" "$OUT/ch2-from-dicom.nii.gz" --force
echo "demo done: outputs in $OUT/"
