#pragma once
// The synthetic mark: a key-seeded spread-spectrum pattern added to the voxels of every synthetic
// volume medsynth writes, so a volume can be recognised as synthetic from its pixels alone, after
// its header is gone (docs/ethics.md, "The synthetic mark").
//
// The pattern is a 64x64 tile, repeated over each axial slice and the same on every slice. It is
// the sum of a pilot tile (says "medsynth made this") and five data tiles, each circularly
// shifted by 12 bits of the payload (version, run id, CRC-12). Every tile is white noise with a
// flat spectrum in a mid-frequency ring (periods of about 3.5 to 11 pixels): low frequencies would
// be visible and fight the anatomy, high ones are lost to resampling and 8-bit export.
//
// Detection folds the high-pass residual of each slice modulo the tile (at a searched scale, for
// each slice axis, in 8 flips/transposes) and finds the pilot by phase-only correlation: its
// peak's height in standard deviations of the correlation surface is the score. The offset of the
// peak absorbs cropping; folding all slices into one tile adds them up.
#include <cstdint>
#include <string>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::mark {

inline constexpr int kTile = 64;
// RMS of the mark as a fraction of the intensity range it is scaled by (the model's window):
// PSNR = 20 log10(1 / 0.0035) = 49 dB when the volume fills the window.
inline constexpr double kDefaultStrength = 0.0035;
// The mark is reported when the chance that an unmarked volume scores as high, over every
// position, orientation, scale and axis tried, is at most kFalseAlarmLimit: a score of 6.5 (one
// slice, as written) to 7.4 (a volume searched on every axis and scale). The scores of real scans
// follow that Gaussian tail (3.7-5.6 on every file Debian ships; tests/mark/). Never below kMinScore.
inline constexpr double kFalseAlarmLimit = 1e-6;
inline constexpr double kMinScore = 6.5;

struct Payload {
  int major = 0, minor = 0, patch = 0;  // medsynth's version (4, 6, 6 bits)
  std::uint32_t run_id = 0;             // the training run (model card's mark_run_id)
};

// This build's version with a run id.
Payload current_payload(std::uint32_t run_id);
std::string version_text(const Payload& p);  // "0.1.0"
std::string run_id_text(std::uint32_t id);   // 8 hex digits

// Adds the mark with RMS `rms` (intensity units) to every finite voxel; NaN voxels (the slices of
// other shards) stay NaN. The pattern depends on the voxel's in-plane index only (the canonical
// axes of the geometry), so it is deterministic and a shard carries exactly its slices of it.
// With `region` (one byte per voxel), only voxels where it is non-zero: an edited scan carries the
// mark in what was regenerated, and its real voxels stay exactly as they were.
void embed_mark(io::Volume& volume, const Payload& payload, double rms, const std::vector<std::uint8_t>* region = nullptr);

// The mark added by embed_mark alone (the voxels of `volume` are ignored): for tests.
io::Volume mark_pattern(const io::Volume& like, const Payload& payload, double rms);

struct Detection {
  bool found = false;          // false_alarm <= kFalseAlarmLimit (and score >= kMinScore)
  bool payload_valid = false;  // the payload's CRC checked
  Payload payload;
  double score = 0;            // pilot peak in standard deviations of the correlation surface
  double payload_score = 0;    // weakest data tile's peak (same units)
  double false_alarm = 1;      // chance that an unmarked volume scores as high, over all hypotheses tried
  double scale = 1;            // pattern magnification found (resampled files)
  int axis = 2;                // slice axis (index axis of the file) the pattern was found on
  int orientation = 0;         // which of the 8 flips/transposes of the tile
  std::size_t planes = 0;      // slices that took part
};

// Looks for the mark in the voxels alone; the header is never consulted (the geometry only
// orders the search: the canonical axial axis first).
Detection detect_mark(const io::Volume& volume);

}  // namespace medsynth::mark
