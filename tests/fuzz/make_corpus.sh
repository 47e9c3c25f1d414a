#!/usr/bin/env bash
# Seed corpora for the harnesses, one folder per target under OUT: small real files (Debian's test
# data, the project's own configs and manifests) and minimal valid inputs of each format.
set -euo pipefail
OUT="$1"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$OUT"/{read_volume,config,tables,manifest,stage_record,checkpoint_seal}

# read_volume: the first byte picks the reader (0 NIfTI, 1 DICOM, 2 gzipped NIfTI).
V="$OUT/read_volume"
P=/usr/lib/python3/dist-packages/pydicom/data/test_files
seed() {  # seed FORMAT_BYTE FILE NAME
  { printf "\\x$(printf %02x "$1")"; cat "$2"; } > "$V/$3"
}
for f in MR_small MR_small_RLE MR_small_jpeg_ls_lossless MR_small_jp2klossless MR_small_bigendian MR_small_implicit \
         CT_small no_meta rtplan; do
  seed 1 "$P/$f.dcm" "dcm-$f"
done
# Siemens CSA headers, and an enhanced multi-frame (Philips) file.
N=/usr/lib/python3/dist-packages/nibabel/nicom/tests/data
seed 1 "$N/csa_slice_norm.dcm" dcm-siemens-csa
gzip -dc "$N/philips_mprage.dcm.gz" > "$V/philips.dcm"
seed 1 "$V/philips.dcm" dcm-enhanced-philips
rm -f "$V/philips.dcm"
/usr/bin/python3 - "$V" <<'PY'
import sys, numpy as np, nibabel as nib
out = sys.argv[1]
a = (np.arange(6 * 5 * 4) % 251).astype(np.uint8).reshape(6, 5, 4)
nib.save(nib.Nifti1Image(a, np.diag([-1.0, 1.0, 2.0, 1.0])), out + "/tiny.nii")
nib.save(nib.Nifti2Image(a.astype(np.int16), np.eye(4)), out + "/tiny2.nii")
PY
seed 0 "$V/tiny.nii" nii-tiny
seed 0 "$V/tiny2.nii" nii2-tiny
gzip -c "$V/tiny.nii" > "$V/tiny.nii.gz"
seed 2 "$V/tiny.nii.gz" niigz-tiny
rm -f "$V/tiny.nii" "$V/tiny2.nii" "$V/tiny.nii.gz"

# config: the shipped recipes.
cp "$ROOT"/configs/*.ini "$OUT/config/"

# tables: the first byte picks the table (0 tissue table, 1 label table).
printf '\x00# my tissues\ntissue,pd,t1,t2,t2star,source\ncsf,1,4000,2000,1500,est.\nlesion,0.8,1500,120,80,\n' \
  > "$OUT/tables/tissues"
printf '\x01label,tissue\n0,background\n1,csf\n2,grey_matter\n3,white_matter\n' > "$OUT/tables/labels"

# manifest: the shipped manifests, and one with every column, quotes, a comment and CRLF ends.
cp "$ROOT"/configs/*.csv "$OUT/manifest/"
printf 'subject,image,labels,source,class\r\n# held out\r\n"s 1",a/t1.nii.gz,"a/seg, v2.nii.gz",/abs/t2.nii,1\r\n\r\ns2, b.nii ,,,0\r\n' \
  > "$OUT/manifest/all-columns.csv"

# stage_record: records of the shape the runner writes (done, stopped with partial volumes).
cat > "$OUT/stage_record/done.json" <<'JSON'
{"stage": "train", "status": "done", "fingerprint": "0123456789abcdef", "inputs": "train.steps = 20\n",
 "run_id": "fedcba9876543210", "pid": 42, "started": "2026-01-01T00:00:00Z", "finished": "2026-01-01T00:01:00Z",
 "seconds": 60.0, "artefacts": ["train/checkpoints/ckpt-00000020.pt", "train/loss.csv"],
 "outputs": {"checkpoint": "train/checkpoints/ckpt-00000020.pt", "loss_log": "train/loss.csv", "steps": 20}}
JSON
cat > "$OUT/stage_record/stopped.json" <<'JSON'
{"stage": "sample", "status": "stopped", "fingerprint": "0123456789abcdef", "artefacts": [],
 "error": "sample: sampling: stopped by SIGTERM before slice 8 of 91",
 "partial": {"colin27": {"entry": {"name": "colin27", "synthetic": "sample/colin27.nii.gz"},
                         "artefacts": ["sample/colin27.nii.gz"]}}}
JSON

# checkpoint_seal: zip archives as LibTorch writes them (stored entries, no comment) and one with
# a comment.
/usr/bin/python3 - "$OUT/checkpoint_seal" <<'PY'
import sys, zipfile
out = sys.argv[1]
with zipfile.ZipFile(out + "/plain.pt", "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    z.writestr("archive/data/0", bytes(range(64)))
    z.writestr("archive/version", b"3\n")
with zipfile.ZipFile(out + "/comment.pt", "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data/0", b"\x00" * 16)
    z.comment = b"medsynth-xxh3:0000000000000000"
PY
for d in "$OUT"/*/; do echo "corpus: $(ls "$d" | wc -l) files in $d"; done
