#include "medsynth/pipeline/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/modules/device.h"
#include "medsynth/pipeline/checkpoint_seal.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

constexpr const char* kMagic = "medsynth-checkpoint-1";

// A checkpoint without a seal (written by an earlier medsynth) loads with a warning, once per file.
void warn_unsealed(const std::string& path) {
  static std::mutex m;
  static std::set<std::string> warned;
  const std::lock_guard<std::mutex> lock(m);
  if (warned.insert(path).second) {
    std::cerr << "medsynth: warning: " << path << ": checkpoint has no content checksum (written by an earlier "
              << "medsynth); it cannot be checked for damage\n";
  }
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  c10::IValue v;
  if (!a.try_read(key, v) || !v.isString()) throw io::Error(path, "checkpoint lacks '" + key + "'");
  return v.toStringRef();
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw io::Error(path, "no such checkpoint");
  if (fs::file_size(path, ec) == 0) throw io::Error(path, "checkpoint is empty");
  const bool sealed = verify_seal(path);  // the content checksum, before LibTorch parses the file
  torch::serialize::InputArchive a;
  try {
    a.load_from(path);
  } catch (const c10::Error& e) {
    throw io::Error(path, "not a readable checkpoint (truncated or not a LibTorch archive)");
  }
  c10::IValue magic;
  if (!a.try_read("medsynth", magic) || !magic.isString() || magic.toStringRef() != kMagic) {
    throw io::Error(path, "not a medsynth checkpoint (a LibTorch archive from another program?)");
  }
  if (!sealed) warn_unsealed(path);
  return a;
}

CheckpointInfo info_from(torch::serialize::InputArchive& a, const std::string& path) {
  CheckpointInfo info;
  info.family = read_string(a, "family", path);
  info.model = modules::model_config_from_text(read_string(a, "model_config", path));
  info.run_config = read_string(a, "run_config", path);
  info.data_fingerprint = read_string(a, "data_fingerprint", path);
  // A fresh tensor per read: InputArchive::read into a defined tensor set_()s its storage.
  torch::Tensor step, labels, window;
  a.read("step", step);
  info.step = step.item<std::int64_t>();
  a.read("label_values", labels);
  for (std::int64_t i = 0; i < labels.numel(); ++i) info.label_values.push_back(labels[i].item<std::int32_t>());
  a.read("window", window);
  info.window_lo = window[0].item<float>();
  info.window_hi = window[1].item<float>();
  torch::Tensor world;
  info.world_size = a.try_read("world_size", world) ? static_cast<int>(world.item<std::int64_t>()) : 1;
  torch::Tensor empty;
  info.empty_background = a.try_read("empty_background", empty) && empty.item<std::int64_t>() != 0;
  torch::Tensor pixel;
  info.pixel = a.try_read("pixel", pixel) ? pixel.item<double>() : 0.0;
  return info;
}

}  // namespace

void save_checkpoint(const std::string& path, modules::GenerativeModel& model, const CheckpointInfo& info) {
  torch::serialize::OutputArchive a;
  a.write("medsynth", c10::IValue(std::string(kMagic)));
  a.write("family", c10::IValue(info.family));
  a.write("model_config", c10::IValue(modules::to_text(info.model)));
  a.write("run_config", c10::IValue(info.run_config));
  a.write("data_fingerprint", c10::IValue(info.data_fingerprint));
  a.write("step", torch::tensor(info.step));
  std::vector<std::int32_t> lv = info.label_values;
  a.write("label_values", lv.empty() ? torch::zeros({0}, torch::kInt) : torch::tensor(lv));
  a.write("window", torch::tensor({info.window_lo, info.window_hi}));
  a.write("world_size", torch::tensor(static_cast<std::int64_t>(info.world_size)));
  a.write("pixel", torch::tensor(info.pixel, torch::kDouble));
  a.write("empty_background", torch::tensor(static_cast<std::int64_t>(info.empty_background ? 1 : 0)));
  model.save(a);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const fs::path dir = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  try {
    // Serialised in memory, then written by us: LibTorch's file writer, when the disk fills,
    // throws from its destructor and the process aborts (seen in CI), so it never touches the disk.
    std::ostringstream bytes;
    a.save_to(bytes);
    const std::string data = bytes.str();
    const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int write_errno = out < 0 ? errno : 0;
    for (std::size_t done = 0; out >= 0 && write_errno == 0 && done < data.size();) {
      const ssize_t n = ::write(out, data.data() + done, data.size() - done);
      if (n < 0 && errno != EINTR) write_errno = errno;
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    if (out >= 0 && ::close(out) != 0 && write_errno == 0) write_errno = errno;
    if (write_errno != 0) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw io::Error(path, "cannot write checkpoint: " + write_failure(dir.string(), std::strerror(write_errno)),
                      ExitCode::kRuntime);
    }
    seal_archive(tmp, path);
  } catch (const c10::Error& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw io::Error(path, "cannot write checkpoint: " + write_failure(dir.string(), e.what_without_backtrace()),
                    ExitCode::kRuntime);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  // fsync, then rename: a kill at any point leaves either the old state or the new checkpoint.
  int fd = ::open(tmp.c_str(), O_RDONLY);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  if (!synced) {
    fs::remove(tmp, ec);
    throw io::Error(path, "cannot write checkpoint: " + write_failure(dir.string(), std::strerror(sync_errno)),
                    ExitCode::kRuntime);
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw io::Error(path, "cannot move the checkpoint into place: " + ec.message(), ExitCode::kRuntime);
  }
  fd = ::open(fs::path(path).parent_path().c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  auto a = open_archive(path);
  return info_from(a, path);
}

void load_checkpoint(const std::string& path, modules::GenerativeModel& model) {
  auto a = open_archive(path);
  const auto info = info_from(a, path);
  if (info.family != model.family()) {
    throw io::Error(path, "checkpoint of family '" + info.family + "', the model is '" + model.family() + "'");
  }
  if (modules::to_text(info.model) != modules::to_text(model.config())) {
    throw io::Error(path, "checkpoint's model config differs from the configured one:\n" + modules::to_text(info.model));
  }
  try {
    model.load(a);
  } catch (const c10::Error& e) {
    throw io::Error(path, "checkpoint is incomplete (missing or mismatched tensors)");
  }
}

std::unique_ptr<modules::GenerativeModel> model_from_checkpoint(const std::string& path, const std::string& device,
                                                                CheckpointInfo* info) {
  auto a = open_archive(path);
  *info = info_from(a, path);
  auto model = modules::create_model(info->model, modules::parse_device(device));
  try {
    model->load(a);
  } catch (const c10::Error& e) {
    throw io::Error(path, "checkpoint is incomplete (missing or mismatched tensors)");
  }
  return model;
}

std::string newest_intact_checkpoint(const std::vector<std::string>& checkpoints, bool set_aside) {
  std::string first_error;
  std::vector<std::string> damaged;
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend(); ++it) {
    try {
      read_checkpoint_info(*it);
    } catch (const io::Error& e) {
      if (first_error.empty()) first_error = e.what();
      std::cerr << "medsynth: warning: " << e.what()
                << (std::next(it) != checkpoints.rend() ? "; trying the previous checkpoint" : "") << "\n";
      damaged.push_back(*it);
      continue;
    }
    // The damaged newer ones go out of the way of list_checkpoints (and of pruning), kept for a
    // look; only once an intact one is found, so a folder of damaged ones is never emptied.
    for (const auto& d : damaged) {
      std::error_code ec;
      if (set_aside) fs::rename(d, d + ".damaged", ec);
      if (set_aside && !ec) std::cerr << "medsynth: warning: " << d << ": renamed to " << d << ".damaged\n";
    }
    return *it;
  }
  throw io::Error(fs::path(checkpoints.back()).parent_path().string(),
                  "no intact checkpoint to resume from (the newest: " + first_error + ")");
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && e.path().extension() == ".pt") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded steps sort by step
  return out;
}

}  // namespace medsynth::pipeline
