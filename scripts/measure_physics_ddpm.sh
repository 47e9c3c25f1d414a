#!/bin/bash
# Learned + physics (docs/physics.md): the plain tissue-map ddpm (configs/colin27-tissue-ddpm.ini)
# against the physics-source ddpm (configs/colin27-physics-ddpm.ini) at the same step budget, and
# the pure physics rendering of the same tissue map, each scored by medsynth evaluate on Colin27's
# held-out slab.  Usage: scripts/measure_physics_ddpm.sh BUILD_DIR OUT_DIR [STEPS]
set -e
cd "$(dirname "$0")/.."
B=$(realpath "$1")/pipeline/medsynth
O=$(realpath -m "$2")
STEPS=${3:-300}
mkdir -p $O
common="--data.patch 64 --train.steps $STEPS --train.batch 8 --train.warmup 20 --train.checkpoint_every $STEPS --train.threads 1 --export.dicom false"
export OMP_NUM_THREADS=1
( time nice -n 10 $B run configs/colin27-tissue-ddpm.ini --train.out $O/plain $common ) > $O/plain.log 2>&1 &
( time nice -n 10 $B run configs/colin27-physics-ddpm.ini --train.out $O/physics $common ) > $O/physics.log 2>&1 &
wait
# Pure physics: the same MPRAGE rendering of the same tissue map, its window matched to the real
# scan's (0 -> the real minimum, the 99.5th foreground percentile -> the real one's), as the
# models' outputs are mapped back.
L=$O/plain/sample/colin27-labels.nii.gz
nice $B simulate $L $O/physics-raw.nii.gz --sequence mprage --field 3 --tr 2300 --te 2.98 --ti 900 --flip 9 --force
/usr/bin/python3 - $O <<'PY'
import sys, nibabel as nib, numpy as np
o=sys.argv[1]
real=nib.load('/usr/share/mricron/templates/ch2bet.nii.gz'); r=real.get_fdata()
s=nib.load(o+'/physics-raw.nii.gz'); x=s.get_fdata()
def win(v):
    mn=v.min(); fg=v[v>mn]; return mn, np.percentile(fg,99.5)
rl,rh=win(r); sl,sh=win(x)
y=(x-sl)/(sh-sl)*(rh-rl)+rl
nib.save(nib.Nifti1Image(y.astype(np.float32), s.affine, s.header), o+'/physics-only.nii.gz')
PY
MASK=$(/usr/bin/python3 -c "import json;print(json.load(open('$O/plain/sample/stage.json'))['outputs']['volumes'][0]['mask'])")
nice $B evaluate --real /usr/share/mricron/templates/ch2bet.nii.gz --synthetic $O/physics-only.nii.gz --out $O/eval-physics --mask $O/plain/$MASK --labels $L --force > $O/eval-physics.log 2>&1
for r in plain physics; do grep -h "evaluate:" $O/$r.log; grep real $O/$r.log | tail -1; done
cat $O/eval-physics.log | tail -5
