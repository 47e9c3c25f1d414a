#pragma once
// One DICOM file as the 2-D frames it holds: a classic image is one frame, an enhanced
// multi-frame image (Enhanced MR/CT, legacy-converted enhanced) one per frame with its functional
// groups resolved, a Siemens mosaic one per tile with the tile's own position.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace medsynth::io::detail {

// A file's parsed dataset; pixel data stays on disk until decode_frames().
struct DicomFile {
  std::string path;
  std::shared_ptr<DcmFileFormat> file;
  long rows = 0, columns = 0, frames = 1;
};

struct DicomFrame {
  std::shared_ptr<DicomFile> file;
  long frame = 0;                  // index of the frame in the file's pixel data
  long tile_row = 0, tile_col = 0; // mosaic only: top-left pixel of the tile in the frame
  long rows = 0, columns = 0;      // of the frame or tile
  std::string series_uid, series_number, series_description, modality, study_uid;
  std::string stack, echo;         // what may split one series into several listed ones
  bool has_ipp = false, has_iop = false;
  std::array<double, 3> ipp{0, 0, 0};
  std::array<double, 6> iop{1, 0, 0, 0, 1, 0};
  std::array<double, 2> pixel_spacing{1, 1};  // (row spacing, column spacing)
  double slope = 1, intercept = 0;
  double slice_spacing_hint = 0;   // SpacingBetweenSlices or SliceThickness, for single slices
  std::vector<double> order;       // orders frames at one position into volumes (4-D)
  std::vector<std::pair<std::string, std::string>> labels;  // what may vary along the 4th axis
  // Acquisition attributes by DICOM keyword (RepetitionTime, EchoTime, InversionTime, FlipAngle,
  // MagneticFieldStrength, ScanningSequence, SequenceVariant, MRAcquisitionType, SequenceName,
  // PatientAge, PatientSex), from the functional groups of an enhanced file; the reader puts the
  // first frame's into Volume::metadata as "dicom.<keyword>".
  std::vector<std::pair<std::string, std::string>> acquisition;

  std::string where;               // "file", "file (frame N)" or "file (mosaic tile N)", 1-based
};

// The frames in one file. Throws io::Error naming the file and the problem: no pixel data,
// functional groups missing or inconsistent, a mosaic count the tiles cannot hold.
std::vector<DicomFrame> read_dicom_frames(const std::string& path);

// Receives frame `frame` of a file as rows × columns stored values; the values are valid during
// the call only.
using FrameSink = std::function<void(long frame, const std::int32_t* values)>;

// Hands every frame of the file, in order, to `use`: stored values masked to BitsStored and
// sign-extended (decompressed by DCMTK, JPEG 2000 by OpenJPEG). Frees the file's dataset afterwards.
void decode_frames(DicomFile& f, const FrameSink& use);

// DICOM text helpers on any item (a dataset or a functional-group item).
std::string item_string(DcmItem* item, const DcmTagKey& key);
bool item_doubles(DcmItem* item, const DcmTagKey& key, double* out, int n);

}  // namespace medsynth::io::detail
