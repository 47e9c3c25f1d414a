#pragma once
// A network as training holds it: its training weights, optionally an EMA copy that sampling uses,
// its AdamW optimiser, the number of EMA updates, and their archives; and the end of a training
// step (finish_step), written once. Every family composes one TrainedNet per network it trains:
// the diffusion U-Net (ddpm, ldm), the vae, the GAN's generator and discriminator, the VAE-GAN's
// discriminator, the segmenter. A family then writes only its network and its loss.
#include <torch/torch.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/model_config.h"

namespace medsynth::modules {

// The archive keys of one network (they are the checkpoints' keys, kept as each family had them).
struct ArchiveKeys {
  std::string net = "model", ema = "ema", updates = "ema_updates", optimizer = "optimizer";
};

class TrainedNet {
 public:
  TrainedNet() = default;
  // `net` is trained; `ema`, when given, is a module of the same architecture that becomes its
  // copy (weights copied, no gradients) and follows it by an exponential moving average.
  TrainedNet(std::shared_ptr<torch::nn::Module> net, std::shared_ptr<torch::nn::Module> ema);

  torch::nn::Module& net() { return *net_; }
  // The weights sampling uses: the EMA copy, or the training weights without one.
  torch::nn::Module& ema() { return ema_ ? *ema_ : *net_; }
  // Training weights (not EMA), in a stable order; their element count.
  std::vector<torch::Tensor> parameters() const { return net_->parameters(); }
  std::int64_t parameter_count() const;
  // EMA updates so far (the vae's KL warm-up counts steps by it).
  std::int64_t updates() const { return updates_; }

  // AdamW over the training weights with `optim`'s learning rate, beta2, weight decay and
  // gradient clipping, and `beta1` (0.5 for adversarial networks, as DCGAN/pix2pix/SPADE use).
  void configure(const OptimConfig& optim, double beta1);
  bool configured() const { return optimizer_ != nullptr; }
  void set_learning_rate(double lr);
  void zero_grad();
  // After backward: clip the gradient norm (train.grad_clip > 0), step, update the EMA.
  // Returns the norm before clipping (0 without clipping).
  double step();

  void save(torch::serialize::OutputArchive& archive, const ArchiveKeys& keys);
  void load(torch::serialize::InputArchive& archive, const ArchiveKeys& keys);

 private:
  std::shared_ptr<torch::nn::Module> net_, ema_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  OptimConfig optim_;
  std::int64_t updates_ = 0;
};

// The end of every training step. `local_loss` is this rank's loss as the trainer logs it (a
// family makes it non-finite when any of its losses is); the model's loss_hook turns it into the
// loss every rank acts on. On a non-finite one no step is taken (the trainer stops with its
// message, the last checkpoint intact). Else: zero the gradients of `nets`, backward each of
// `losses` (each reaches its own network's weights), one gradient hook over all of `nets` (one
// all-reduce), then each network's step. stats.grad_norm is the first network's.
StepStats finish_step(const GenerativeModel& model, double local_loss, std::initializer_list<torch::Tensor> losses,
                      std::initializer_list<TrainedNet*> nets);

}  // namespace medsynth::modules
