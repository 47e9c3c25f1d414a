// ITK-backed readers and writers: MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr) and PNG. ITK gives
// geometry in LPS, as medsynth does. NIfTI has its own reader and writer (nifti_io.cpp).
#include "itk_image_io.h"

#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkVectorImage.h>
#include <itkMetaImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>
#include <itkPNGImageIOFactory.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>

#include "medsynth/io/error.h"

namespace medsynth::io::detail {
namespace {

void register_factories() {
  static std::once_flag once;
  std::call_once(once, [] {
    itk::MetaImageIOFactory::RegisterOneFactory();
    itk::NrrdImageIOFactory::RegisterOneFactory();
    itk::PNGImageIOFactory::RegisterOneFactory();
  });
}

// ITK exception text carries file/line of ITK itself; users need only the description.
std::string describe(const itk::ExceptionObject& e) {
  std::string d = e.GetDescription();
  while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
  return d.empty() ? "unreadable image" : d;
}

PixelType from_itk(itk::IOComponentEnum c, const std::string& path) {
  using C = itk::IOComponentEnum;
  switch (c) {
    case C::UCHAR: return PixelType::kUInt8;
    case C::CHAR: return PixelType::kInt8;
    case C::USHORT: return PixelType::kUInt16;
    case C::SHORT: return PixelType::kInt16;
    case C::UINT: return PixelType::kUInt32;
    case C::INT: return PixelType::kInt32;
    case C::FLOAT: return PixelType::kFloat32;
    case C::DOUBLE: return PixelType::kFloat64;
    default:
      throw Error(path, "unsupported voxel type " +
                            itk::ImageIOBase::GetComponentTypeAsString(c));
  }
}

itk::ImageIOBase::Pointer open_for_reading(const std::string& path) {
  register_factories();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path, "no such file");
  itk::ImageIOBase::Pointer io =
      itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
  if (!io) throw Error(path, "not a readable NIfTI, MetaImage, NRRD or PNG file");
  io->SetFileName(path);
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw Error(path, describe(e));
  }
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool grey_png = io->GetNumberOfComponents() <= 4 && ext == ".png";
  if (io->GetNumberOfComponents() != 1 && !grey_png) {
    throw Error(path, "has " + std::to_string(io->GetNumberOfComponents()) +
                          " components per voxel (colour or vector image); medsynth reads "
                          "scalar images");
  }
  const unsigned dims = io->GetNumberOfDimensions();
  for (unsigned d = 3; d < dims; ++d) {
    if (io->GetDimensions(d) > 1) {
      throw Error(path, "is a " + std::to_string(dims) + "-D image (size " +
                            std::to_string(io->GetDimensions(d)) + " along axis " +
                            std::to_string(d) + "); medsynth reads 3-D volumes: extract one first");
    }
  }
  for (unsigned d = 0; d < dims; ++d) {
    if (io->GetDimensions(d) == 0) throw Error(path, "image size is zero along axis " + std::to_string(d));
  }
  return io;
}

// PNGs of grey images are often stored as RGB(A) with equal channels (BrainT1Slice.png is one):
// those read as their grey value; a real colour image is refused.
template <typename T>
Image<T> read_grey_png(const std::string& path, itk::ImageIOBase::Pointer io) {
  using VecImage = itk::VectorImage<float, 3>;
  auto reader = itk::ImageFileReader<VecImage>::New();
  reader->SetFileName(path);
  reader->SetImageIO(io);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(path, describe(e));
  }
  auto img = reader->GetOutput();
  const unsigned nc = img->GetNumberOfComponentsPerPixel();
  const auto size = img->GetLargestPossibleRegion().GetSize();
  Image<T> out;
  for (int a = 0; a < 3; ++a) {
    out.geometry.size[a] = size[a];
    out.geometry.spacing[a] = img->GetSpacing()[a];
    out.geometry.origin[a] = img->GetOrigin()[a];
    for (int c = 0; c < 3; ++c) out.geometry.direction[3 * a + c] = img->GetDirection()(a, c);
  }
  validate_geometry(out.geometry, path);
  const float* data = img->GetBufferPointer();
  const std::size_t n = out.geometry.voxel_count();
  out.voxels.resize(n);
  const unsigned colour = nc >= 3 ? 3 : 1;  // grey+alpha has one colour channel
  for (std::size_t i = 0; i < n; ++i) {
    const float* px = data + i * nc;
    for (unsigned c = 1; c < colour; ++c) {
      if (px[c] != px[0]) throw Error(path, "is a colour image; medsynth reads greyscale images");
    }
    out.voxels[i] = static_cast<T>(px[0]);
  }
  out.stored_type = from_itk(io->GetComponentType(), path);
  out.metadata["source"] = path;
  return out;
}

template <typename T>
Image<T> read_as(const std::string& path) {
  auto io = open_for_reading(path);
  if (io->GetNumberOfComponents() > 1) return read_grey_png<T>(path, io);
  using ItkImage = itk::Image<T, 3>;
  auto reader = itk::ImageFileReader<ItkImage>::New();
  reader->SetFileName(path);
  reader->SetImageIO(io);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(path, describe(e));
  }
  typename ItkImage::Pointer img = reader->GetOutput();
  Image<T> out;
  const auto region = img->GetLargestPossibleRegion();
  for (int a = 0; a < 3; ++a) {
    out.geometry.size[a] = region.GetSize()[a];
    out.geometry.spacing[a] = img->GetSpacing()[a];
    out.geometry.origin[a] = img->GetOrigin()[a];
    for (int c = 0; c < 3; ++c) out.geometry.direction[3 * a + c] = img->GetDirection()(a, c);
  }
  validate_geometry(out.geometry, path);
  const T* data = img->GetBufferPointer();
  out.voxels.assign(data, data + out.geometry.voxel_count());
  out.stored_type = from_itk(io->GetComponentType(), path);
  out.metadata["source"] = path;
  return out;
}

template <typename T>
typename itk::Image<T, 3>::Pointer to_itk(const Geometry& g) {
  using ItkImage = itk::Image<T, 3>;
  auto img = ItkImage::New();
  typename ItkImage::SizeType size;
  typename ItkImage::SpacingType spacing;
  typename ItkImage::PointType origin;
  typename ItkImage::DirectionType direction;
  for (int a = 0; a < 3; ++a) {
    size[a] = g.size[a];
    spacing[a] = g.spacing[a];
    origin[a] = g.origin[a];
    for (int c = 0; c < 3; ++c) direction(a, c) = g.dir(a, c);
  }
  img->SetRegions(typename ItkImage::RegionType(size));
  img->SetSpacing(spacing);
  img->SetOrigin(origin);
  img->SetDirection(direction);
  img->Allocate();
  return img;
}

// Converts to the output component type; values that do not fit are clamped and rounded.
template <typename Out, typename In>
Out convert_voxel(In v) {
  if constexpr (std::is_integral_v<Out>) {
    const double lo = static_cast<double>(std::numeric_limits<Out>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<Out>::max());
    double d = std::isfinite(static_cast<double>(v)) ? std::nearbyint(static_cast<double>(v)) : 0.0;
    return static_cast<Out>(std::clamp(d, lo, hi));
  } else {
    return static_cast<Out>(v);
  }
}

template <typename Out, typename In>
void write_as(const Image<In>& v, const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool is_png = ext == ".png";
  try {
    if (is_png) {
      // PNG holds one 2-D slice; ITK's PNG writer wants a 2-D image.
      using Img2 = itk::Image<Out, 2>;
      auto img = Img2::New();
      typename Img2::SizeType size;
      typename Img2::SpacingType spacing;
      typename Img2::PointType origin;
      for (int a = 0; a < 2; ++a) {
        size[a] = v.geometry.size[a];
        spacing[a] = v.geometry.spacing[a];
        origin[a] = v.geometry.origin[a];
      }
      img->SetRegions(typename Img2::RegionType(size));
      img->SetSpacing(spacing);
      img->SetOrigin(origin);
      img->Allocate();
      Out* dst = img->GetBufferPointer();
      for (std::size_t n = 0; n < v.voxels.size(); ++n) dst[n] = convert_voxel<Out>(v.voxels[n]);
      auto writer = itk::ImageFileWriter<Img2>::New();
      writer->SetFileName(path);
      writer->SetInput(img);
      writer->Update();
    } else {
      auto img = to_itk<Out>(v.geometry);
      Out* dst = img->GetBufferPointer();
      for (std::size_t n = 0; n < v.voxels.size(); ++n) dst[n] = convert_voxel<Out>(v.voxels[n]);
      auto writer = itk::ImageFileWriter<itk::Image<Out, 3>>::New();
      writer->SetFileName(path);
      writer->SetInput(img);
      writer->SetUseCompression(true);
      writer->Update();
    }
  } catch (const itk::ExceptionObject& e) {
    throw Error(path, describe(e), ExitCode::kRuntime);
  }
}

template <typename In>
void write_dispatch(const Image<In>& v, const std::string& path, PixelType type) {
  register_factories();
  switch (type) {
    case PixelType::kUInt8: return write_as<unsigned char>(v, path);
    case PixelType::kInt8: return write_as<signed char>(v, path);
    case PixelType::kUInt16: return write_as<unsigned short>(v, path);
    case PixelType::kInt16: return write_as<short>(v, path);
    case PixelType::kUInt32: return write_as<unsigned int>(v, path);
    case PixelType::kInt32: return write_as<int>(v, path);
    case PixelType::kFloat32: return write_as<float>(v, path);
    case PixelType::kFloat64: return write_as<double>(v, path);
  }
}

}  // namespace

Volume itk_read_volume(const std::string& path) { return read_as<float>(path); }
LabelVolume itk_read_label_volume(const std::string& path) { return read_as<std::int32_t>(path); }
void itk_write_volume(const Volume& v, const std::string& path, PixelType type) {
  write_dispatch(v, path, type);
}
void itk_write_label_volume(const LabelVolume& v, const std::string& path, PixelType type) {
  write_dispatch(v, path, type);
}

}  // namespace medsynth::io::detail
