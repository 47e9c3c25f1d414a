#!/usr/bin/env bash
# The main job, end to end on data that Debian ships (mricron-data's Colin27 T1):
#  1. describe and convert volumes (NIfTI, MHA, PNG, a plastimatch DICOM series read back);
#  2. 'medsynth run configs/colin27-tissue-ddpm.ini', the stage runner (docs/pipeline.md):
#     ingest   Colin27's skull-stripped T1 with its tissue map (background, CSF, grey, white matter
#              by multi-Otsu) into its native 181x217 1 mm axial slices, a contiguous 20% slab held out;
#     train    a conditional flow model (predicting the clean image) on 128x128 patches of the slices,
#              about 12 minutes on 2 cores;
#     sample   the whole T1 volume at 1 mm from the tissue map (8 Euler steps, noise smooth along z);
#     evaluate it against the real T1 on the held-out slab (SSIM, PSNR, distributions, Dice per
#              tissue): report.json + report.html;
#     export   the synthetic volume as de-identified, synthetic-marked DICOM;
#     report   an index of the run, and the path of report.html.
#  Started again, the run skips what is done and resumes a killed training from its checkpoint.
# MEDSYNTH_DEMO_STEPS overrides the training steps (e.g. 50 for a quick look); MEDSYNTH_DEMO_OUT
# the output folder (demo-out; the run folder is demo-out/run). Arguments go to the run as config
# keys, e.g. bash scripts/demo.sh --sample.steps 10.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_BUILD_DIR:-build}"
MEDSYNTH="$BUILD_DIR/pipeline/medsynth"
OUT="${MEDSYNTH_DEMO_OUT:-demo-out}"
# The config's own train.steps (2000) unless MEDSYNTH_DEMO_STEPS is given.
STEPS="${MEDSYNTH_DEMO_STEPS:-}"
STEPS_ARGS=()
if [ -n "$STEPS" ]; then STEPS_ARGS=(--train.steps "$STEPS"); fi
CH2=/usr/share/mricron/templates/ch2.nii.gz
mkdir -p "$OUT"

echo "== 1. medsynth info / convert on $CH2"
"$MEDSYNTH" info "$CH2"
"$MEDSYNTH" convert "$CH2" "$OUT/ch2.mha" --force
"$MEDSYNTH" convert "$CH2" "$OUT/ch2-slice90.png" --slice 90 --force
rm -rf "$OUT/ch2-dicom"
plastimatch convert --input "$CH2" --output-dicom "$OUT/ch2-dicom" >/dev/null
"$MEDSYNTH" convert "$OUT/ch2-dicom" "$OUT/ch2-from-dicom.nii.gz" --force

echo "== 2. medsynth run configs/colin27-tissue-ddpm.ini (${STEPS:-2000} training steps; progress below)"
"$MEDSYNTH" run configs/colin27-tissue-ddpm.ini --train.out "$OUT/run" "${STEPS_ARGS[@]}" "$@" | tee "$OUT/run.log"
"$MEDSYNTH" convert "$OUT/run/sample/colin27.nii.gz" "$OUT/synthetic-slice90.png" --slice 90 --type uint8 --force

echo
echo "demo done; report: $(sed -n 's/^report: //p' "$OUT/run.log" | tail -1)"
