#pragma once
// File-system helpers shared by io's writers and readers (internal to medsynth_io).
#include <filesystem>
#include <string>
#include <vector>

namespace medsynth::io::detail {

// Prefix of the temporary folders of AtomicOutput and AtomicFolder, so either cleans up after the
// other's killed runs.
inline constexpr const char* kTempPrefix = ".medsynth-tmp-";

// fsync of a file or folder (errors ignored: the rename that follows is what must not fail).
void fsync_path(const std::filesystem::path& p);

// Removes the temporaries in `dir` whose writer process is gone (SIGKILL, power loss).
void remove_stale_temporaries(const std::filesystem::path& dir);

// Regular files under `folder`, recursively and sorted, skipping hidden files and folders and
// DICOMDIR: the candidates of a DICOM folder tree.
std::vector<std::filesystem::path> files_under(const std::filesystem::path& folder);

// The files named in `paths` and the files_under() each folder among them, in that order: what a
// push sends (io::Error naming a path that does not exist).
std::vector<std::filesystem::path> dicom_candidates(const std::vector<std::string>& paths);

}  // namespace medsynth::io::detail
