#!/usr/bin/env bash
# Seed corpus for fuzz_read_volume: small real files, each prefixed with its format byte.
set -euo pipefail
OUT="$1"
mkdir -p "$OUT"
P=/usr/lib/python3/dist-packages/pydicom/data/test_files
seed() {  # seed FORMAT_BYTE FILE NAME
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } > "$OUT/$3"
}
for f in MR_small MR_small_RLE MR_small_jpeg_ls_lossless MR_small_bigendian MR_small_implicit CT_small no_meta rtplan; do
  seed 1 "$P/$f.dcm" "dcm-$f"
done
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np, nibabel as nib
out = sys.argv[1]
a = (np.arange(6 * 5 * 4) % 251).astype(np.uint8).reshape(6, 5, 4)
nib.save(nib.Nifti1Image(a, np.diag([-1.0, 1.0, 2.0, 1.0])), out + "/tiny.nii")
nib.save(nib.Nifti2Image(a.astype(np.int16), np.eye(4)), out + "/tiny2.nii")
PY
seed 0 "$OUT/tiny.nii" nii-tiny
seed 0 "$OUT/tiny2.nii" nii2-tiny
gzip -c "$OUT/tiny.nii" > "$OUT/tiny.nii.gz"
seed 2 "$OUT/tiny.nii.gz" niigz-tiny
rm -f "$OUT/tiny.nii" "$OUT/tiny2.nii" "$OUT/tiny.nii.gz"
echo "corpus: $(ls "$OUT" | wc -l) files in $OUT"
