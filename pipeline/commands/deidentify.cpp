// medsynth deidentify IN OUT: de-identified copies of real DICOM files (PS3.15 Annex E basic
// profile), one output per input image, UIDs replaced consistently within the run.
#include <iostream>

#include "medsynth/io/deidentify.h"
#include "medsynth/io/dicom_uid.h"
#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {
namespace {

int run_deidentify(const po::variables_map& vm) {
  io::DeidentifyOptions o;
  o.force = vm.count("force") > 0;
  o.uid_root = vm["uid-root"].as<std::string>();
  if (!o.uid_root.empty()) io::make_dicom_uid(o.uid_root);  // a bad root is a usage error, first
  const auto r = io::deidentify(vm["input"].as<std::string>(), vm["output"].as<std::string>(), o);
  for (const auto& s : r.skipped) std::cerr << "medsynth: warning: skipped " << s << "\n";
  std::cout << vm["output"].as<std::string>() << " (" << r.outputs.size() << " file(s), " << r.uids_replaced
            << " UIDs replaced)\n";
  return 0;
}

}  // namespace

Command make_deidentify_command() {
  Command c;
  c.name = "deidentify";
  c.summary = "write de-identified copies of real DICOM files (PS3.15 Annex E basic profile)";
  c.usage = "medsynth deidentify IN OUT [--uid-root ROOT] [--force]";
  c.details =
      "IN is a DICOM file (OUT is then a file) or a folder searched recursively (OUT is then a folder\n"
      "with one copy per input image, named IM0001.dcm, ... in input path order). Identifying\n"
      "attributes are removed, emptied or replaced, private attributes, overlays and curves dropped,\n"
      "every non-standard UID replaced (consistently within the run, so series stay series), and\n"
      "PatientIdentityRemoved YES with DeidentificationMethod(CodeSequence 113100) added. Pixels are\n"
      "kept: a file with BurnedInAnnotation YES is refused. See docs/dicom-export.md for the table.\n"
      "The output is written atomically; an existing OUT is replaced only with --force.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "DICOM file or folder to de-identify")
        ("output", po::value<std::string>()->required(), "output file (for a file) or folder (for a folder)")
        ("uid-root", po::value<std::string>()->default_value(""),
         "root for the replacement UIDs (default: 2.25.<random UUID>)")
        ("force", "replace OUT if it exists");
    p.add("input", 1).add("output", 1);
  };
  c.run = run_deidentify;
  return c;
}

}  // namespace medsynth::pipeline
