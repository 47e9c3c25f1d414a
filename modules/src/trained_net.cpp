#include "medsynth/modules/trained_net.h"

#include <cmath>

#include "medsynth/modules/train_util.h"

namespace medsynth::modules {

TrainedNet::TrainedNet(std::shared_ptr<torch::nn::Module> net, std::shared_ptr<torch::nn::Module> ema)
    : net_(std::move(net)), ema_(std::move(ema)) {
  if (!ema_) return;
  copy_parameters(*net_, *ema_);
  for (auto& p : ema_->parameters()) p.set_requires_grad(false);
}

std::int64_t TrainedNet::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : net_->parameters()) n += p.numel();
  return n;
}

void TrainedNet::configure(const OptimConfig& optim, double beta1) {
  optim_ = optim;
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      net_->parameters(),
      torch::optim::AdamWOptions(optim.lr).betas({beta1, optim.beta2}).weight_decay(optim.weight_decay));
}

void TrainedNet::set_learning_rate(double lr) {
  if (!optimizer_) throw Error("set_learning_rate before configure_training", ExitCode::kRuntime);
  modules::set_learning_rate(*optimizer_, lr);
}

void TrainedNet::zero_grad() {
  if (!optimizer_) throw Error("train_step before configure_training", ExitCode::kRuntime);
  optimizer_->zero_grad();
}

double TrainedNet::step() {
  double norm = 0;
  if (optim_.grad_clip > 0) norm = torch::nn::utils::clip_grad_norm_(net_->parameters(), optim_.grad_clip);
  optimizer_->step();
  ++updates_;
  if (ema_) ema_update(*net_, *ema_, optim_.ema_decay, updates_);
  return norm;
}

void TrainedNet::save(torch::serialize::OutputArchive& archive, const ArchiveKeys& keys) {
  save_parameters(archive, keys.net, *net_);
  if (ema_) save_parameters(archive, keys.ema, *ema_);
  if (!keys.updates.empty()) archive.write(keys.updates, torch::tensor(updates_));
  save_optimizer(archive, keys.optimizer, optimizer_.get());
}

void TrainedNet::load(torch::serialize::InputArchive& archive, const ArchiveKeys& keys) {
  load_parameters(archive, keys.net, *net_);
  if (ema_) load_parameters(archive, keys.ema, *ema_);
  if (!keys.updates.empty()) {
    torch::Tensor n;
    archive.read(keys.updates, n);
    updates_ = n.item<std::int64_t>();
  }
  load_optimizer(archive, keys.optimizer, optimizer_.get());
}

StepStats finish_step(const GenerativeModel& model, double local_loss, std::initializer_list<torch::Tensor> losses,
                      std::initializer_list<TrainedNet*> nets) {
  StepStats stats;
  stats.loss = model.loss_hook ? model.loss_hook(local_loss) : local_loss;
  if (!std::isfinite(stats.loss)) return stats;  // the trainer stops; no step is taken
  for (auto* n : nets) n->zero_grad();
  for (const auto& l : losses) l.backward();
  std::vector<torch::nn::Module*> modules;
  for (auto* n : nets) modules.push_back(&n->net());
  apply_gradient_hook(model, modules);
  bool first = true;
  for (auto* n : nets) {
    const double norm = n->step();
    if (first) stats.grad_norm = norm;
    first = false;
  }
  return stats;
}

}  // namespace medsynth::modules
