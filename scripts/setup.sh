#!/usr/bin/env bash
# Installs everything medsynth needs on a fresh Debian 12 machine, by package name.
# Run as root. Idempotent: re-running installs nothing new.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it calls apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Build tools and libraries (ARCHITECTURE.md: one CMake target per folder).
BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev                       # LibTorch (same version as python3-torch)
  libopenblas0-pthread               # ~160 GFLOP/s matmul instead of ~5 with reference BLAS
  libopenblas-dev                    # cblas.h: the memorisation check's matrix products (validation)
  libinsighttoolkit5-dev             # ITK 5.2: NIfTI, MHA/MHD, NRRD, PNG
  libdcmtk-dev                       # DCMTK: DICOM read/write, codecs, dcmnet
  libopenjp2-7-dev                   # OpenJPEG: JPEG 2000 pixel data (DCMTK has no J2K codec)
  libvtk9-dev                        # VTK 9: imaging pipeline, PNG writer (validation)
  libboost-program-options-dev       # CLI and INI config parsing
  libgtest-dev libgmock-dev          # GoogleTest
  libbenchmark-dev                   # micro-benchmarks in bench/
  nlohmann-json3-dev                 # every JSON file
  libfmt-dev libspdlog-dev           # formatting and logs
  libxxhash-dev                      # fingerprints of large inputs
  libgloo-dev                        # c10d Gloo backend headers
  libcurl4-openssl-dev               # DICOMweb client (HTTP/HTTPS, OpenSSL)
  zlib1g-dev
  clang-14 libclang-rt-14-dev        # libFuzzer, ASan, UBSan: the fuzz harnesses (scripts/fuzz.sh)
)

# Real data and independent checking tools (../shared/docs/DATA.md).
DATA_PKGS=(
  mricron-data                       # Colin27 T1 + atlases (NIfTI)
  insighttoolkit5-examples           # second subject, MHA/MHD, PNG slices
  python3-pydicom python3-nibabel python3-skimage python3-numpy python3-scipy python3-pil
  python3-torch                      # reference implementation for bench/
  plastimatch                        # writes DICOM series of a known volume
  dcm2niix                           # independent DICOM -> NIfTI
  dicom3tools                        # dciodvfy conformance check
  dcmtk                              # dcmdump, storescu, findscu, movescu, echoscu
  orthanc                            # a real PACS for the tests
  orthanc-dicomweb                   # its DICOMweb plugin (QIDO-RS, WADO-RS, STOW-RS tests)
  stunnel4                           # HTTPS in front of Orthanc in the DICOMweb TLS test
  openssl                            # the TLS tests' CA and certificates
  chromium                           # headless check that report.html renders
  iproute2                           # ip netns / veth: the two-host data-parallel tests
)

missing=()
for p in "${BUILD_PKGS[@]}" "${DATA_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all packages already installed"
else
  echo "setup.sh: installing ${#missing[@]} packages: ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The BIDS validator from the npm registry (docs/bids.md). Node.js comes from Debian when the
# machine has none.
BIDS_VALIDATOR_VERSION=1.15.0
if ! command -v npm >/dev/null 2>&1; then
  apt-get update
  apt-get install -y --no-install-recommends nodejs npm
fi
if [ "$(bids-validator --version 2>/dev/null || true)" != "$BIDS_VALIDATOR_VERSION" ]; then
  echo "setup.sh: installing bids-validator $BIDS_VALIDATOR_VERSION (npm)"
  npm install -g --no-fund --no-audit "bids-validator@$BIDS_VALIDATOR_VERSION"
fi

# The orthanc package starts a system service on install on some machines; the tests start
# their own server on free ports, so a system one is not needed (and must not hold port 4242).
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop orthanc >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/orthanc ]; then
  /etc/init.d/orthanc stop >/dev/null 2>&1 || true
fi
