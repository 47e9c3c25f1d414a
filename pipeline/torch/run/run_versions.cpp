// Versions of the libraries medsynth is built with, for stage.json. Kept in its own translation
// unit: DCMTK's osconfig.h defines many configuration macros (PACKAGE_*, HAVE_*) that must not
// leak into other code. ITK and DCMTK are private to medsynth_io, so their headers are found on
// the system include path here (Debian: /usr/include/ITK-5.2, /usr/include/dcmtk).
#include <boost/version.hpp>
#include <nlohmann/json.hpp>
#include <torch/version.h>
#include <xxhash.h>

#include <string>

#if __has_include(<dcmtk/config/osconfig.h>)
#include <dcmtk/config/osconfig.h>
#define MEDSYNTH_DCMTK_VERSION PACKAGE_VERSION
#else
#define MEDSYNTH_DCMTK_VERSION "unknown"
#endif
#if __has_include(<ITK-5.2/itkConfigure.h>)
#include <ITK-5.2/itkConfigure.h>
#define MEDSYNTH_ITK_VERSION ITK_VERSION_STRING
#else
#define MEDSYNTH_ITK_VERSION "unknown"
#endif

namespace medsynth::pipeline {

nlohmann::json library_versions() {
  nlohmann::json v;
  v["libtorch"] = TORCH_VERSION;
  v["boost"] = BOOST_LIB_VERSION;
  v["itk"] = MEDSYNTH_ITK_VERSION;
  v["dcmtk"] = MEDSYNTH_DCMTK_VERSION;
  v["nlohmann_json"] = std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." + std::to_string(NLOHMANN_JSON_VERSION_MINOR) +
                       "." + std::to_string(NLOHMANN_JSON_VERSION_PATCH);
  v["xxhash"] = std::to_string(XXH_VERSION_NUMBER);
  return v;
}

}  // namespace medsynth::pipeline
