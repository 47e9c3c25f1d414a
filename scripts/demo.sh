#!/usr/bin/env bash
# The main job, end to end on data that Debian ships (mricron-data's Colin27 T1):
#  1. describe and convert volumes (NIfTI, MHA, PNG, a plastimatch DICOM series read back);
#  2. make a tissue label map of the skull-stripped T1 (background, CSF, grey, white matter);
#  3. train a conditional diffusion model on 64x64 axial slices (configs/colin27-tissue-ddpm.ini,
#     a contiguous 20% slab of slices held out), about 8 minutes on 2 cores;
#  4. synthesise the whole T1 volume from the tissue map, with the map's geometry;
#  5. evaluate it against the real T1 on the held-out slab (SSIM, PSNR, distributions, Dice per
#     tissue), write report.json + report.html;
#  6. write the synthetic volume as de-identified, synthetic-marked DICOM.
# MEDSYNTH_DEMO_STEPS overrides the training steps (e.g. 50 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_BUILD_DIR:-build}"
MEDSYNTH="$BUILD_DIR/pipeline/medsynth"
OUT="${MEDSYNTH_DEMO_OUT:-demo-out}"
STEPS="${MEDSYNTH_DEMO_STEPS:-600}"
CH2=/usr/share/mricron/templates/ch2.nii.gz
CH2BET=/usr/share/mricron/templates/ch2bet.nii.gz
mkdir -p "$OUT"

echo "== 1. medsynth info / convert on $CH2"
"$MEDSYNTH" info "$CH2"
"$MEDSYNTH" convert "$CH2" "$OUT/ch2.mha" --force
"$MEDSYNTH" convert "$CH2" "$OUT/ch2-slice90.png" --slice 90 --force
rm -rf "$OUT/ch2-dicom"
plastimatch convert --input "$CH2" --output-dicom "$OUT/ch2-dicom" >/dev/null
"$MEDSYNTH" convert "$OUT/ch2-dicom" "$OUT/ch2-from-dicom.nii.gz" --force

echo "== 2. tissue map of the skull-stripped T1"
"$MEDSYNTH" tissue-map "$CH2BET" "$OUT/ch2-tissue.nii.gz" --force

echo "== 3. training ($STEPS steps; progress below)"
"$MEDSYNTH" train --config configs/colin27-tissue-ddpm.ini --train.out "$OUT/run" --train.steps "$STEPS" \
  $( [ -d "$OUT/run/checkpoints" ] && echo --resume )
CKPT=$(ls "$OUT"/run/checkpoints/ckpt-*.pt | tail -1)

echo "== 4. synthesising the T1 volume from the tissue map"
"$MEDSYNTH" sample --checkpoint "$CKPT" --condition "$OUT/ch2-tissue.nii.gz" --out "$OUT/synthetic-t1.nii.gz" --force
"$MEDSYNTH" convert "$OUT/synthetic-t1.nii.gz" "$OUT/synthetic-slice90.png" --slice 90 --type uint8 --force

echo "== 5. evaluation on the held-out slab"
"$MEDSYNTH" evaluate --real "$CH2BET" --synthetic "$OUT/synthetic-t1.nii.gz" --mask "$OUT/run/heldout-mask.nii.gz" \
  --labels "$OUT/ch2-tissue.nii.gz" --log "$OUT/run/loss.csv" --out "$OUT/report" --force

echo "== 6. synthetic DICOM"
"$MEDSYNTH" convert "$OUT/synthetic-t1.nii.gz" "$OUT/synthetic-dicom" --to dicom --model-family ddpm \
  --checkpoint "$CKPT" --force

echo
echo "demo done; report: $(cd "$OUT/report" && pwd)/report.html"
