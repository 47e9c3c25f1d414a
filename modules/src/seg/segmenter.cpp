#include "medsynth/modules/seg/segmenter.h"

#include "medsynth/modules/seed.h"
#include "medsynth/modules/trained_net.h"

namespace medsynth::modules {

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  const auto C = logits.size(1);
  const auto ce = torch::nn::functional::cross_entropy(logits, target);
  const auto prob = torch::softmax(logits, 1);
  const auto onehot = torch::one_hot(target, C).permute({0, 3, 1, 2}).to(prob.dtype());
  const auto inter = (prob * onehot).sum({0, 2, 3});
  const auto total = prob.sum({0, 2, 3}) + onehot.sum({0, 2, 3});
  // Classes absent from the target are left out of the Dice term: their soft Dice is noise from
  // the (small) probabilities the network gives them, and cross-entropy already pushes them down.
  const auto present = (onehot.sum({0, 2, 3}) > 0).to(prob.dtype());
  const auto dice = (2 * inter + 1e-6) / (total + 1e-6);
  const auto soft_dice = (dice * present).sum() / present.sum().clamp_min(1);
  return ce + (1 - soft_dice);
}

SegmenterModel::SegmenterModel(const ModelConfig& config, torch::Device device) : config_(config), device_(device) {
  if (config_.label_classes < 2) throw Error("a segmenter needs at least 2 classes", ExitCode::kUsage);
  ModelConfig unet = config_;
  unet.label_classes = 0;  // the classes are outputs here, not a condition
  unet.num_classes = 0;
  unet.slice_position = false;
  torch::manual_seed(0);  // weights initialise from the global generator: one config, one model
  net_ = nn::UNet(unet, 1, config_.label_classes);
  ema_ = nn::UNet(unet, 1, config_.label_classes);
  net_->to(device_);
  ema_->to(device_);
  trained_ = TrainedNet(net_.ptr(), ema_.ptr());
}

void SegmenterModel::configure_training(const OptimConfig& optim) { trained_.configure(optim, optim.beta1); }

void SegmenterModel::set_learning_rate(double lr) { trained_.set_learning_rate(lr); }

torch::Tensor SegmenterModel::logits(nn::UNet& net, const torch::Tensor& images) {
  nn::UNetInput in;
  in.x = images.to(device_);
  in.t = torch::zeros({images.size(0)}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  return net->forward(in);
}

StepStats SegmenterModel::train_step(const Batch& batch, std::uint64_t seed) {
  if (!trained_.configured()) throw Error("train_step before configure_training", ExitCode::kRuntime);
  if (!batch.image.defined() || !batch.labels.defined() || batch.labels.size(1) != config_.label_classes) {
    throw Error("a segmenter batch needs images and one-hot labels of " + std::to_string(config_.label_classes) +
                    " classes", ExitCode::kRuntime);
  }
  net_->train();
  torch::manual_seed(derive_seed(seed, static_cast<std::uint64_t>(batch.global_offset), 1));  // dropout
  const auto target = batch.labels.argmax(1).to(device_);
  auto loss = segmentation_loss(logits(net_, batch.image), target);
  return finish_step(*this, loss.item<double>(), {loss}, {&trained_});
}

torch::Tensor SegmenterModel::sample(const Condition&, const SampleOptions&) {
  throw Error("a segmenter predicts label maps from images; it does not sample (medsynth utility)", ExitCode::kUsage);
}

torch::Tensor SegmenterModel::predict(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  ema_->eval();
  return logits(ema_, images);
}

void SegmenterModel::save(torch::serialize::OutputArchive& archive) { trained_.save(archive, ArchiveKeys{}); }

void SegmenterModel::load(torch::serialize::InputArchive& archive) { trained_.load(archive, ArchiveKeys{}); }

std::int64_t SegmenterModel::parameter_count() { return trained_.parameter_count(); }

}  // namespace medsynth::modules
