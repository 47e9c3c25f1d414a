#pragma once
// The content checksum of checkpoints (no LibTorch: the fuzz harness links it alone).
// A checkpoint is a zip archive (LibTorch's format), whose readers skip the per-entry CRC-32
// (PyTorch builds miniz with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS): a flipped byte inside a tensor
// would load silently. So the archive is sealed with the XXH3-64 of every byte before the
// comment-length field of its end record, stored as the zip comment "medsynth-xxh3:<16 hex>". The
// file stays a valid zip archive (LibTorch, Python's zipfile and unzip read it).
#include <string>

namespace medsynth::pipeline {

// Appends the checksum comment to the archive at `file` (just written by LibTorch, without a
// comment). Errors are io::Error on `target` (the checkpoint's final name), exit code 3.
void seal_archive(const std::string& file, const std::string& target);

// Refuses (io::Error naming `path`, exit 2) a sealed archive whose content differs from its seal.
// Returns false for a file without a seal (a checkpoint of an earlier medsynth, or not a zip
// archive at all, which the archive reader then refuses), true for a sealed, intact one.
bool verify_seal(const std::string& path);

// Why writing into `dir` failed: io::no_space_left(dir) when it is (nearly) full, else `fallback`.
std::string write_failure(const std::string& dir, const std::string& fallback);

}  // namespace medsynth::pipeline
