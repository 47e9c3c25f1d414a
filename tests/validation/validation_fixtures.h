#pragma once
// Real inputs shared by the validation tests: Colin27 and a deterministic perturbed copy of it,
// written where Debian's python3 (nibabel, skimage) can read the same voxels.
#include <cmath>
#include <random>
#include <string>

#include "medsynth/io/volume.h"
#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace medsynth::test {

inline io::Volume read_ch2() {
  return io::read_volume(data_file(kTemplates + "ch2.nii.gz", "mricron-data"));
}

// What a fair synthetic scan looks like to the metrics: contrast and offset changed, Gaussian
// noise, and every other row shifted by one voxel (structure slightly off), from a fixed seed.
inline io::Volume perturbed(const io::Volume& v, double noise_sd = 6.0, unsigned seed = 7) {
  io::Volume p = v;
  p.stored_type = io::PixelType::kFloat32;
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, static_cast<float>(noise_sd));
  const auto& s = v.geometry.size;
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t i = 0; i < s[0]; ++i) {
        const std::size_t src = (j % 2 && i + 1 < s[0]) ? i + 1 : i;
        p.at(i, j, k) = 0.9f * v.at(src, j, k) + 8.0f + noise(rng);
      }
  return p;
}

// Writes a volume as float32 NIfTI (exact voxels for python to read back).
inline std::string write_float(const io::Volume& v, const std::string& path) {
  io::WriteOptions wo;
  wo.has_pixel_type = true;
  wo.pixel_type = io::PixelType::kFloat32;
  io::write_volume(v, path, wo);
  return path;
}

// Python helpers for the skimage references, prepended to each test's script. ms_ssim_ref is
// the MS-SSIM reference written from skimage's own SSIM parts: cs from skimage.filters.gaussian
// with the arguments structural_similarity uses, the last scale from structural_similarity itself.
inline const std::string kSkimageHelpers = R"PY(
import json, sys
import numpy as np
import nibabel as nib
from skimage.metrics import structural_similarity, peak_signal_noise_ratio
from skimage.filters import gaussian

W = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]

def grey(path):
    # BrainT1Slice.png is stored as RGB with three equal channels; medsynth reads it as grey.
    from skimage import io as skio
    x = skio.imread(path).astype(np.float64)
    if x.ndim == 3:
        assert (x[..., 0] == x[..., 1]).all() and (x[..., 0] == x[..., 2]).all()
        x = x[..., 0]
    return x

def filt(x):
    return gaussian(x, sigma=1.5, truncate=3.5, mode='reflect', preserve_range=True)

def ssim_map(a, b, L):
    return structural_similarity(a, b, data_range=L, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, full=True)

def cs_map(a, b, L):
    ux, uy = filt(a), filt(b)
    vx, vy, vxy = filt(a * a) - ux * ux, filt(b * b) - uy * uy, filt(a * b) - ux * uy
    C2 = (0.03 * L) ** 2
    return (2 * vxy + C2) / (vx + vy + C2)

def crop(m):
    return m[5:-5, 5:-5]

def down(x):
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

def down_mask(m):
    h, w = m.shape[0] // 2 * 2, m.shape[1] // 2 * 2
    return m[:h, :w].reshape(h // 2, 2, w // 2, 2).astype(int).sum(axis=(1, 3)) >= 2

def scales_for(shape):
    M, h, w = 0, shape[0], shape[1]
    while M < 5 and h >= 11 and w >= 11:
        M, h, w = M + 1, h // 2, w // 2
    return M

def ms_ssim_ref(a, b, L, mask=None):
    M = scales_for(a.shape)
    wsum = sum(W[:M])
    out = 1.0
    for j in range(M):
        if j:
            a, b = down(a), down(b)
            if mask is not None:
                mask = down_mask(mask)
        if j < M - 1:
            m = crop(cs_map(a, b, L))
        else:
            m = crop(ssim_map(a, b, L)[1])
        v = m.mean() if mask is None else m[crop(mask)].mean()
        out *= max(v, 0.0) ** (W[j] / wsum)
    return out
)PY";

// numpy/scipy references of the volume figures (docs/metrics.md, "Volume figures"), written from
// the definitions with nibabel's own orientation code for the axes, prepended to a test's script.
inline const std::string kVolumeFigureHelpers = R"PY(
import json, sys
import numpy as np
import nibabel as nib
from scipy import ndimage

def load(path):
    img = nib.load(path)
    return np.asarray(img.dataobj, dtype=np.float64), img.affine

def axes_of(affine):
    # Array axes along world R-L, A-P and S-I, from nibabel's orientation of the affine.
    ornt = nib.orientations.io_orientation(affine)
    return [int(np.where(ornt[:, 0] == w)[0][0]) for w in range(3)]

def region_of(real, mask=None):
    return mask != 0 if mask is not None else real > real.min()

def mad_along(v, R, axis):
    lo = [slice(None)] * 3; hi = [slice(None)] * 3
    lo[axis] = slice(0, -1); hi[axis] = slice(1, None)
    both = R[tuple(lo)] & R[tuple(hi)]
    return float(np.abs(v[tuple(hi)] - v[tuple(lo)])[both].mean()), int(both.sum())

def coherence(v, R, axes):
    X, Y, Z = axes
    t, tn = mad_along(v, R, Z)
    i, n = mad_along(v, R, X)
    return dict(through_plane=t, in_plane=i, coherence=t / i, through_pairs=tn, in_pairs=n)

def band_power(v, R, axes, lo=0.2, hi=0.5, taper=8.0):
    X, Y, Z = axes
    vv = np.moveaxis(v, (X, Y, Z), (0, 1, 2)); RR = np.moveaxis(R, (X, Y, Z), (0, 1, 2))
    p2 = lambda n: 1 << int(np.ceil(np.log2(n)))
    px, py = p2(vv.shape[0]), p2(vv.shape[1])
    fx, fy = np.fft.fftfreq(px), np.fft.fftfreq(py)
    band = np.sqrt(fx[:, None] ** 2 + fy[None, :] ** 2)
    band = (band >= lo) & (band <= hi)
    B = T = 0.0; n = 0
    for k in range(vv.shape[2]):
        r = RR[:, :, k]
        if not r.any():
            continue
        d = ndimage.distance_transform_edt(np.pad(r, 1))[1:-1, 1:-1]
        w = np.where(r, 0.5 - 0.5 * np.cos(np.pi * np.minimum(d, taper) / taper), 0.0)
        x = vv[:, :, k]
        s = w * (x - (w * x).sum() / w.sum())
        P = np.abs(np.fft.fft2(s, s=(px, py))) ** 2
        B += float(P[band].sum()); T += float(P.sum()); n += 1
    return dict(band=B, total=T, slices=n, padded=[px, py])

def plane_figures(a, b, L, slice_axis, m):
    # skimage's SSIM (Gaussian sigma 1.5, truncate 3.5, population covariances, 5-pixel border
    # cropped) on every 2-D slice across slice_axis at once: a 3-D Gaussian with sigma 0 along
    # that axis filters each slice on its own. Pixel-weighted mean inside the mask; PSNR pooled.
    # Only the mask's bounding box plus the window radius is filtered (the same figure, faster).
    full = a.shape
    box = tuple(slice(max(0, int(i.min()) - 5), int(i.max()) + 6) for i in np.nonzero(m))
    lo = [s.start for s in box]
    a, b, m = a[box], b[box], m[box]
    sig = [1.5] * 3; sig[slice_axis] = 0
    f = lambda x: ndimage.gaussian_filter(x, sigma=sig, truncate=3.5, mode='reflect')
    ux, uy = f(a), f(b)
    vx, vy, vxy = f(a * a) - ux * ux, f(b * b) - uy * uy, f(a * b) - ux * uy
    C1, C2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    S = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2))
    valid = m.copy()
    for ax in range(3):
        if ax == slice_axis:
            continue
        idx = [slice(None)] * 3
        idx[ax] = slice(0, max(0, 5 - lo[ax])); valid[tuple(idx)] = False
        idx[ax] = slice(full[ax] - 5 - lo[ax], None); valid[tuple(idx)] = False
    mse = float(((a - b) ** 2)[m].mean())
    return dict(ssim=float(S[valid].mean()), psnr=float(10 * np.log10(L * L / mse)))
)PY";

}  // namespace medsynth::test
