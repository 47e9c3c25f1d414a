// medsynth convert IN OUT: any readable volume to NIfTI, MetaImage, NRRD, PNG, or (--to dicom) a
// synthetic DICOM series in the folder OUT.
#include <iostream>

#include "medsynth/io/dicom_series_writer.h"
#include "medsynth/io/dicom_uid.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {
namespace {

// --to dicom: the synthetic DICOM writer into the folder `out` (docs/dicom-export.md).
int convert_to_dicom(const po::variables_map& vm, const std::string& in, const std::string& out,
                     const io::ReadOptions& ro) {
  if (vm.count("labels")) throw UsageError("convert: --labels cannot be written as DICOM (use --to with a volume)");
  if (!vm["type"].as<std::string>().empty()) {
    std::cerr << "medsynth: warning: --type has no effect with --to dicom (always int16 with a rescale)\n";
  }
  io::DicomWriteOptions o;
  o.force = vm.count("force") > 0;
  o.template_path = vm["template"].as<std::string>();
  o.uid_root = vm["uid-root"].as<std::string>();
  o.patient_name = vm["patient-name"].as<std::string>();
  o.patient_id = vm["patient-id"].as<std::string>();
  o.series_description = vm["series-description"].as<std::string>();
  o.model_family = vm["model-family"].as<std::string>();
  o.checkpoint = vm["checkpoint"].as<std::string>();
  o.enhanced = vm.count("enhanced") > 0;
  // Validate the UID root before the (possibly long) read.
  if (!o.uid_root.empty()) io::make_dicom_uid(o.uid_root);
  io::Volume v = io::read_volume(in, ro);
  const long slice = vm["slice"].as<long>();
  if (slice >= 0) v = io::extract_slice(v, static_cast<std::size_t>(slice), in);
  const auto r = io::write_dicom_series(v, out, o);
  std::cout << r.folder << " (" << r.files.size() << (o.enhanced ? " Enhanced MR file of " + std::to_string(v.geometry.size[2]) + " frames" : " files")
            << ", series " << r.series_uid << ")\n";
  return 0;
}

int run_convert(const po::variables_map& vm) {
  const std::string in = vm["input"].as<std::string>();
  const std::string out = vm["output"].as<std::string>();
  io::ReadOptions ro;
  ro.series = vm["series"].as<std::string>();
  ro.volume = vm["volume"].as<long>();
  const std::string to = vm["to"].as<std::string>();
  if (to == "dicom") return convert_to_dicom(vm, in, out, ro);
  if (!to.empty()) throw UsageError("convert: --to '" + to + "' is not known (only 'dicom'; other formats come from OUT's suffix)");
  if (!vm["template"].as<std::string>().empty()) {
    std::cerr << "medsynth: warning: --template has no effect without --to dicom\n";
  }
  if (vm.count("enhanced")) std::cerr << "medsynth: warning: --enhanced has no effect without --to dicom\n";
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  const std::string type = vm["type"].as<std::string>();
  if (!type.empty()) {
    wo.has_pixel_type = true;
    wo.pixel_type = io::pixel_type_from_string(type);
  }
  // Check the output name before reading a large input.
  io::detect_write_format(out);
  if (vm.count("labels")) {
    io::LabelVolume l = io::read_label_volume(in, ro);
    const long slice = vm["slice"].as<long>();
    if (slice >= 0) l = io::extract_slice(l, static_cast<std::size_t>(slice), in);
    io::write_label_volume(l, out, wo);
  } else {
    io::Volume v = io::read_volume(in, ro);
    const long slice = vm["slice"].as<long>();
    if (slice >= 0) v = io::extract_slice(v, static_cast<std::size_t>(slice), in);
    io::write_volume(v, out, wo);
  }
  std::cout << out << "\n";
  return 0;
}

}  // namespace

Command make_convert_command() {
  Command c;
  c.name = "convert";
  c.summary = "convert a volume or DICOM series to NIfTI, MetaImage, NRRD, PNG or synthetic DICOM";
  c.usage = "medsynth convert IN OUT [--series UID|N] [--volume N] [--type T] [--slice K] [--labels] [--force]\n"
            "       medsynth convert IN OUT_DIR --to dicom [--enhanced] [--template SRC.dcm] [--uid-root ROOT] [--force]";
  c.details =
      "IN is anything 'medsynth info' reads (a 4-D DICOM series needs --volume N). OUT's suffix\n"
      "picks the format: .nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr, or .png for a single slice.\n"
      "Voxels keep their stored type unless\n"
      "--type says otherwise (values are then rounded and clamped). The output is written to a\n"
      "temporary name and renamed, so a failed run leaves nothing behind; an existing OUT is\n"
      "replaced only with --force.\n"
      "With --to dicom, OUT_DIR becomes a folder of synthetic MR Image Storage files (IM0001.dcm, one\n"
      "per slice), marked SYNTHETIC, with fresh UIDs and a dummy patient (docs/dicom-export.md); a\n"
      "--template DICOM lends its MR acquisition parameters after Annex E de-identification. With\n"
      "--enhanced, OUT_DIR holds one Enhanced MR Image Storage file (IM0001.dcm) with every slice as a\n"
      "frame, its geometry in shared and per-frame functional groups.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "volume file or DICOM file/folder to read")
        ("output", po::value<std::string>()->required(), "file to write")
        ("series", po::value<std::string>()->default_value(""),
         "DICOM: the series to convert, by SeriesInstanceUID or its number in 'medsynth info'")
        ("volume", po::value<long>()->default_value(-1),
         "DICOM: the volume (0-based) of a 4-D series (fMRI, diffusion) to convert; a 4-D "
         "series without it is refused, listing what varies")
        ("type", po::value<std::string>()->default_value(""),
         "output voxel type: uint8, int8, uint16, int16, uint32, int32, float32, float64")
        ("slice", po::value<long>()->default_value(-1),
         "write only slice K along the third index axis (e.g. to look at it as a PNG)")
        ("labels", "read and write as an integer label map")
        ("force", "replace OUT if it exists")
        ("to", po::value<std::string>()->default_value(""), "'dicom': write a synthetic DICOM series into the folder OUT")
        ("enhanced", "--to dicom: one Enhanced MR Image Storage file of N frames instead of N MR Image files")
        ("template", po::value<std::string>()->default_value(""),
         "--to dicom: a real DICOM file lending MR acquisition parameters (de-identified first)")
        ("uid-root", po::value<std::string>()->default_value(""),
         "--to dicom: your organisation's UID root (default: 2.25.<random UUID> UIDs)")
        ("patient-name", po::value<std::string>()->default_value(""),
         "--to dicom: PatientName to map the series to (default SYNTHETIC^MEDSYNTH)")
        ("patient-id", po::value<std::string>()->default_value(""),
         "--to dicom: PatientID to map the series to (default: a generated SYN-... ID)")
        ("series-description", po::value<std::string>()->default_value(""),
         "--to dicom: SeriesDescription after the 'SYNTHETIC ' prefix")
        ("model-family", po::value<std::string>()->default_value("none"),
         "--to dicom: the model family named in DerivationDescription")
        ("checkpoint", po::value<std::string>()->default_value("none"),
         "--to dicom: the checkpoint named in DerivationDescription");
    p.add("input", 1).add("output", 1);
  };
  c.run = run_convert;
  return c;
}

}  // namespace medsynth::pipeline
