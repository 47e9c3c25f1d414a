#pragma once
// The interface every model family implements (ddpm, vae, gan, ldm), and the registry
// that maps the config's family name to a factory.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "medsynth/error.h"
#include "medsynth/modules/model_config.h"

namespace medsynth::modules {

// A model or checkpoint that cannot do what was asked (exit code 2, bad input, unless given).
class Error : public medsynth::Error {
 public:
  explicit Error(const std::string& what, ExitCode code = ExitCode::kBadInput) : medsynth::Error(what, code) {}
};

// What a training step or a sampler gets. Undefined tensors are absent parts.
struct Batch {
  torch::Tensor image;     // [B, C, H, W] in [-1, 1]
  torch::Tensor labels;    // [B, K, H, W] one-hot label map
  torch::Tensor source;    // [B, 1, H, W] source image (other contrast, sketch, edges)
  torch::Tensor class_id;  // [B] int64
  torch::Tensor position;  // [B] float, normalised slice position in [0, 1]
  torch::Tensor coords;    // [B, 2, H, W] in-plane position of every pixel (model.coordinates)
  torch::Tensor acquisition;       // [B, A] acquisition attributes, standardised (model.acquisition_width)
  torch::Tensor acquisition_mask;  // [B, A] 1 where the attribute is given, 0 where it is not
  // Data-parallel training: this batch is rows [global_offset, global_offset + B) of a global
  // batch of global_size; per-sample randomness is drawn for the global batch, so N ranks with
  // batch b train exactly like one process with batch N*b. 0 means "this batch is all of it".
  std::int64_t global_offset = 0, global_size = 0;
  std::int64_t size() const;
};
using Condition = Batch;  // the same parts, without the image

// The image-shaped conditions of families that concatenate them (vae, gan): the label map's
// classes x context slices, the source's context slices, the two coordinate channels, in that
// order; spatial_condition_channels() counts them. Checks that the parts agree in size (throws
// Error, exit 3); an undefined tensor when the model takes none.
int spatial_condition_channels(const ModelConfig& c);
torch::Tensor spatial_condition(const ModelConfig& c, const Condition& cond, torch::Device device);
// Height and width of a condition's image-shaped parts, or {0, 0} without any.
std::pair<std::int64_t, std::int64_t> spatial_size(const Condition& c);

struct StepStats {
  double loss = 0;
  double grad_norm = 0;
};

struct SampleOptions {
  std::string sampler = "ddim";  // ddim | ddpm (eps, v); euler | heun | ddim (flow)
  int steps = 50;                // sampler steps (DDPM always runs every training timestep)
  double eta = 0.0;              // DDIM stochasticity
  double guidance = 1.0;         // classifier-free guidance: 0 unconditional, 1 conditional, > 1 stronger
  std::vector<std::uint64_t> seeds;  // one per sample: its own noise stream
  // Inpainting (RePaint): regenerate where mask == 1, keep `known` elsewhere exactly.
  torch::Tensor known;           // [B, C, H, W]
  torch::Tensor mask;            // [B, 1, H, W] in {0, 1}
  int resample_jumps = 1;        // RePaint resampling: times each step is repeated (1 = none)
  // Decoding from a given latent (editing): [B, ...] as encode() returned it; undefined = draw
  // the start from the seeds.
  torch::Tensor initial;
  // Slice size when no condition gives it (fully convolutional families sample any size);
  // 0: the condition's size, else model.image_size.
  int height = 0, width = 0;
  // Start noise correlated across the samples (the slices of one volume): sample i starts from
  // cos(w_i pi/2) N(anchor_lo_i) + sin(w_i pi/2) N(anchor_hi_i), each N the noise of that seed,
  // mixed with the sample's own noise: sqrt(anchor_share) * anchors + sqrt(1 - share) * own.
  // Empty: every sample from its own seed alone.
  std::vector<std::uint64_t> anchor_lo, anchor_hi;
  std::vector<double> anchor_weight;
  double anchor_share = 1.0;
  // What depends on the condition alone and not on the step (SPADE's scale and shift from the
  // label map) is computed on a diffusion sampler's first step and reused on the others; false
  // computes it on every step (the same result bit for bit: bench_families measures the two).
  bool reuse_conditions = true;
};

// What a family can do beyond sampling, and how it is built: declared once, when the family is
// registered (generative_model.cpp), and asked by name (family_can) or of a model (can). The edit
// commands ask for a capability and refuse a model without it, naming the families that have it.
enum class Capability {
  kInpaint,        // regenerate a masked region, the rest exactly kept
  kInterpolate,    // encode real images to latents and decode any latent (latent paths)
  kGuidance,       // classifier-free guidance (an unconditional branch from model.condition_dropout)
  kCropToTissue,   // pixel-space sampler of any slice size: may sample only the box around the tissue
  kOnAutoencoder,  // diffuses the latents of a vae given with set_autoencoder (model.autoencoder)
  kUnconditional,  // samples with its conditions left out (the null condition it trained with)
};
std::string to_string(Capability c);
// Whether the registered family `family` has `capability` (false for an unknown family).
bool family_can(const std::string& family, Capability capability);

class GenerativeModel {
 public:
  virtual ~GenerativeModel() = default;
  virtual std::string family() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual torch::Device device() const = 0;

  // Training: the model owns its optimiser(s) and EMA weights.
  virtual void configure_training(const OptimConfig& optim) = 0;
  virtual void set_learning_rate(double lr) = 0;
  // One optimisation step on `batch`; all randomness comes from `seed`.
  virtual StepStats train_step(const Batch& batch, std::uint64_t seed) = 0;
  // Called between backward and the optimiser step with every gradient (data-parallel all-reduce).
  std::function<void(std::vector<torch::Tensor>&)> gradient_hook;
  // Called with the local loss before any update; returns the loss every rank acts on (the mean
  // over ranks), so that all ranks stop together on a non-finite loss.
  std::function<double(double)> loss_hook;

  // Sampling (uses the EMA weights). Returns [B, C, H, W] in [-1, 1].
  virtual torch::Tensor sample(const Condition& condition, const SampleOptions& options) = 0;
  // The capabilities registered for family(); not overridden per family.
  bool can(Capability c) const { return family_can(family(), c); }
  // Capability::kOnAutoencoder: the trained vae whose latents this model diffuses.
  virtual void set_autoencoder(std::unique_ptr<GenerativeModel> autoencoder);

  // Latents (Capability::kInterpolate). encode maps images [B, C, H, W] in [-1, 1] (with their
  // condition) to latents; sample() with options.initial = a latent decodes it. Latents are
  // Gaussian-like (interpolate them spherically) when latent_is_gaussian().
  virtual torch::Tensor encode(const torch::Tensor& image, const Condition& condition, const SampleOptions& options);
  virtual bool latent_is_gaussian() const { return true; }

  // Everything needed to continue training: weights, EMA, optimiser state.
  virtual void save(torch::serialize::OutputArchive& archive) = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
  // Training weights (not EMA), in a stable order: for equality tests and checksums.
  virtual std::vector<torch::Tensor> weights() = 0;
  // Every trained weight: weights()'s element count (a discriminator's too, in the gan and VAE-GAN).
  virtual std::int64_t parameter_count() = 0;
};

using ModelFactory = std::function<std::unique_ptr<GenerativeModel>(const ModelConfig&, torch::Device)>;

// Registers a family (called once per family at start-up by register_builtin_families()) with
// the capabilities its models have.
void register_family(const std::string& name, ModelFactory factory, std::vector<Capability> capabilities = {});
std::vector<std::string> registered_families();
std::vector<std::string> families_with(Capability capability);
// Throws a usage error naming the families that can, when `model` cannot `capability`.
void require(const GenerativeModel& model, Capability capability);
// Creates a model; an unknown family is refused, naming the known ones.
std::unique_ptr<GenerativeModel> create_model(const ModelConfig& config, torch::Device device);

}  // namespace medsynth::modules
