#include "medsynth/modules/mac_counter.h"

#include <ATen/record_function.h>
#include <torch/types.h>

#include <cstring>
#include <memory>

namespace medsynth::modules {

namespace {

// Per thread: the running total, the counters alive and the callback they share, and how deep we
// are inside counted operators (a counted operator that calls another, e.g. convolution ->
// _convolution -> mkldnn_convolution, or linear's addmm inside matmul, counts once, outermost).
struct State {
  double total = 0;
  int counters = 0;
  at::CallbackHandle handle = 0;
  int depth = 0;
};
thread_local State state;

enum class Op { kNone, kConv, kConvBackward, kMm, kAddmm, kBmm, kBaddbmm };

Op op_of(const char* name) {
  if (std::strncmp(name, "aten::", 6) != 0) return Op::kNone;
  const char* n = name + 6;
  if (!std::strcmp(n, "convolution") || !std::strcmp(n, "_convolution")) return Op::kConv;
  if (!std::strcmp(n, "convolution_backward")) return Op::kConvBackward;
  if (!std::strcmp(n, "mm")) return Op::kMm;
  if (!std::strcmp(n, "addmm")) return Op::kAddmm;
  if (!std::strcmp(n, "bmm")) return Op::kBmm;
  if (!std::strcmp(n, "baddbmm")) return Op::kBaddbmm;
  return Op::kNone;
}

struct Pending : at::ObserverContext {
  bool outermost = false;
  double per_output = 0;  // a forward non-transposed convolution: macs = output numel x this
};

const at::Tensor* tensor_at(const at::RecordFunction& fn, std::size_t i) {
  const auto in = fn.inputs();
  return i < in.size() && in[i].isTensor() ? &in[i].toTensor() : nullptr;
}

// Multiply-adds per element of a convolution's output (non-transposed) or input (transposed):
// weight [out, in/groups, k...] or, transposed, [in, out/groups, k...].
double per_element(const at::Tensor& weight) {
  return weight.dim() > 0 && weight.size(0) > 0 ? static_cast<double>(weight.numel()) / weight.size(0) : 0.0;
}

double product_macs(Op op, const at::RecordFunction& fn) {
  const std::size_t a = op == Op::kAddmm || op == Op::kBaddbmm ? 1 : 0;  // self comes first
  const at::Tensor* x = tensor_at(fn, a);
  const at::Tensor* y = tensor_at(fn, a + 1);
  if (!x || !y || x->dim() < 2 || y->dim() < 2) return 0;
  // [..., n, k] x [..., k, m]: batch x n x k x m
  return static_cast<double>(x->numel()) * y->size(-1);
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  const Op op = op_of(fn.name());
  if (op == Op::kNone) return nullptr;
  auto ctx = std::make_unique<Pending>();
  ctx->outermost = state.depth++ == 0;
  if (!ctx->outermost) return ctx;
  if (op == Op::kConv) {
    const at::Tensor* input = tensor_at(fn, 0);
    const at::Tensor* weight = tensor_at(fn, 1);
    const auto in = fn.inputs();
    const bool transposed = in.size() > 6 && in[6].isBool() && in[6].toBool();
    if (input && weight) {
      if (transposed) {
        state.total += static_cast<double>(input->numel()) * per_element(*weight);
      } else {
        ctx->per_output = per_element(*weight);
      }
    }
  } else if (op == Op::kConvBackward) {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
    //  output_padding, groups, output_mask): each of grad_input and grad_weight costs a forward.
    const at::Tensor* grad_out = tensor_at(fn, 0);
    const at::Tensor* input = tensor_at(fn, 1);
    const at::Tensor* weight = tensor_at(fn, 2);
    const auto in = fn.inputs();
    const bool transposed = in.size() > 7 && in[7].isBool() && in[7].toBool();
    int passes = 2;
    if (in.size() > 10 && in[10].isBoolList()) {
      const auto mask = in[10].toBoolList();
      passes = (mask.size() > 0 && mask.get(0)) + (mask.size() > 1 && mask.get(1));
    }
    if (grad_out && input && weight) {
      const double forward = static_cast<double>(transposed ? input->numel() : grad_out->numel()) * per_element(*weight);
      state.total += passes * forward;
    }
  } else {
    state.total += product_macs(op, fn);
  }
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* c) {
  auto* ctx = static_cast<Pending*>(c);
  if (!ctx) return;
  --state.depth;
  if (ctx->outermost && ctx->per_output > 0 && !fn.outputs().empty() && fn.outputs()[0].isTensor()) {
    state.total += static_cast<double>(fn.outputs()[0].toTensor().numel()) * ctx->per_output;
  }
}

}  // namespace

MacCounter::MacCounter() : start_(state.total) {
  if (state.counters++ == 0) {
    state.depth = 0;
    state.handle = at::addThreadLocalCallback(at::RecordFunctionCallback(on_start, on_end)
                                                  .needsInputs(true)
                                                  .needsOutputs(true)
                                                  .scopes({at::RecordScope::FUNCTION}));
  }
}

MacCounter::~MacCounter() {
  if (--state.counters == 0) at::removeCallback(state.handle);
}

double MacCounter::macs() const { return state.total - start_; }

}  // namespace medsynth::modules
