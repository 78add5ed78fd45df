// Tensor operations: elementwise, reductions, shapes, nn layers and losses. Each takes Tensor
// handles (and plain numbers) and returns a new Tensor, except the in-place ones.
#include "common.h"

#include <ATen/core/Reduction.h>

#include <unordered_map>

namespace imaginet {

namespace {

using Unary = at::Tensor (*)(const at::Tensor&);
using Binary = at::Tensor (*)(const at::Tensor&, const at::Tensor&);

const std::unordered_map<std::string, Unary>& unaryOps() {
  static const std::unordered_map<std::string, Unary> m = {
      {"neg", [](const at::Tensor& x) { return at::neg(x); }},         {"exp", [](const at::Tensor& x) { return at::exp(x); }},
      {"log", [](const at::Tensor& x) { return at::log(x); }},         {"sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
      {"rsqrt", [](const at::Tensor& x) { return at::rsqrt(x); }},     {"abs", [](const at::Tensor& x) { return at::abs(x); }},
      {"relu", [](const at::Tensor& x) { return at::relu(x); }},       {"sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
      {"tanh", [](const at::Tensor& x) { return at::tanh(x); }},       {"sign", [](const at::Tensor& x) { return at::sign(x); }},
      {"floor", [](const at::Tensor& x) { return at::floor(x); }},     {"ceil", [](const at::Tensor& x) { return at::ceil(x); }},
      {"round", [](const at::Tensor& x) { return at::round(x); }},     {"square", [](const at::Tensor& x) { return at::square(x); }},
      {"log1p", [](const at::Tensor& x) { return at::log1p(x); }},     {"expm1", [](const at::Tensor& x) { return at::expm1(x); }},
      {"sin", [](const at::Tensor& x) { return at::sin(x); }},         {"cos", [](const at::Tensor& x) { return at::cos(x); }},
      {"reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); }}, {"logicalNot", [](const at::Tensor& x) { return at::logical_not(x); }},
      {"softplus", [](const at::Tensor& x) { return at::softplus(x); }}, {"gelu", [](const at::Tensor& x) { return at::gelu(x); }},
      {"isnan", [](const at::Tensor& x) { return at::isnan(x); }},     {"isfinite", [](const at::Tensor& x) { return at::isfinite(x); }},
  };
  return m;
}

const std::unordered_map<std::string, Binary>& binaryOps() {
  static const std::unordered_map<std::string, Binary> m = {
      {"add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }},
      {"sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }},
      {"mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }},
      {"div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); }},
      {"pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); }},
      {"maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }},
      {"minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }},
      {"remainder", [](const at::Tensor& a, const at::Tensor& b) { return at::remainder(a, b); }},
      {"eq", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }},
      {"ne", [](const at::Tensor& a, const at::Tensor& b) { return at::ne(a, b); }},
      {"lt", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }},
      {"le", [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); }},
      {"gt", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }},
      {"ge", [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); }},
      {"logicalAnd", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); }},
      {"logicalOr", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); }},
  };
  return m;
}

template <class M>
auto lookup(Napi::Env env, const M& m, const std::string& name, const char* kind) {
  auto it = m.find(name);
  if (it == m.end()) throwType(env, std::string("unknown ") + kind + " op " + name);
  return it->second;
}

int64_t reductionArg(const Napi::CallbackInfo& info, size_t i) {
  std::string r = hasArg(info, i) ? stringArg(info, i) : "mean";
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throwType(info.Env(), "reduction must be mean, sum or none");
}

c10::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt; }

}  // namespace

// ---- elementwise ----

// unary(op, x)
static Napi::Value unary(const Napi::CallbackInfo& info) {
  auto f = lookup(info.Env(), unaryOps(), stringArg(info, 0), "unary");
  return wrap(info.Env(), f(tensorArg(info, 1)));
}

// binary(op, a, b): a and b are tensors or numbers (broadcasting, Python's type promotion)
static Napi::Value binary(const Napi::CallbackInfo& info) {
  auto f = lookup(info.Env(), binaryOps(), stringArg(info, 0), "binary");
  return wrap(info.Env(), f(tensorOrScalarArg(info, 1), tensorOrScalarArg(info, 2)));
}

// clamp(x, min|null, max|null)
static Napi::Value clamp(const Napi::CallbackInfo& info) {
  c10::optional<at::Scalar> lo, hi;
  if (hasArg(info, 1)) lo = numberArg(info, 1);
  if (hasArg(info, 2)) hi = numberArg(info, 2);
  return wrap(info.Env(), at::clamp(tensorArg(info, 0), lo, hi));
}

// where(cond, a, b)
static Napi::Value where(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), at::where(tensorArg(info, 0), tensorOrScalarArg(info, 1), tensorOrScalarArg(info, 2)));
}

// maskedFill(x, mask, value)
static Napi::Value maskedFill(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::masked_fill(tensorArg(info, 0), tensorArg(info, 1), numberArg(info, 2))); }

// ---- in place (for parameter updates; run them under noGrad on leaves that require grad) ----

// inplace(op: "add_"|"sub_"|"mul_"|"div_"|"copy_", x, other, alpha = 1): returns x
static Napi::Value inplace(const Napi::CallbackInfo& info) {
  auto op = stringArg(info, 0);
  auto& x = tensorArg(info, 1);
  at::Tensor other = tensorOrScalarArg(info, 2);
  double a = numberArg(info, 3, 1.0);
  at::Scalar alpha = std::nearbyint(a) == a ? at::Scalar(static_cast<int64_t>(a)) : at::Scalar(a);  // integral tensors refuse a float alpha
  if (op == "add_") x.add_(other, alpha);
  else if (op == "sub_") x.sub_(other, alpha);
  else if (op == "mul_") x.mul_(other);
  else if (op == "div_") x.div_(other);
  else if (op == "copy_") x.copy_(other);
  else throwType(info.Env(), "unknown in-place op " + op);
  return info[1];
}

// fill_(x, value): zero_ is fill_(x, 0); returns x
static Napi::Value fill_(const Napi::CallbackInfo& info) {
  tensorArg(info, 0).fill_(numberArg(info, 1));
  return info[0];
}

// ---- reductions ----

// reduce(op: "sum"|"mean"|"amax"|"amin"|"logsumexp"|"prod", x, dims|null, keepdim)
static Napi::Value reduce(const Napi::CallbackInfo& info) {
  auto op = stringArg(info, 0);
  auto& x = tensorArg(info, 1);
  bool keep = boolArg(info, 3, false);
  std::vector<int64_t> dims;
  if (hasArg(info, 2)) dims = intListArg(info, 2);
  else for (int64_t d = 0; d < x.dim(); d++) dims.push_back(d);
  at::Tensor y;
  if (op == "sum") y = hasArg(info, 2) ? at::sum(x, dims, keep) : at::sum(x);
  else if (op == "mean") y = hasArg(info, 2) ? at::mean(x, dims, keep) : at::mean(x);
  else if (op == "amax") y = at::amax(x, dims, keep);
  else if (op == "amin") y = at::amin(x, dims, keep);
  else if (op == "logsumexp") y = at::logsumexp(x, dims, keep);
  else if (op == "prod") {
    if (dims.size() != 1) throwType(info.Env(), "prod reduces one dim");
    y = at::prod(x, dims[0], keep);
  } else throwType(info.Env(), "unknown reduction " + op);
  return wrap(info.Env(), y);
}

// argmax(x, dim|null, keepdim) / argmin
static Napi::Value argmax(const Napi::CallbackInfo& info) {
  c10::optional<int64_t> dim;
  if (hasArg(info, 1)) dim = intArg(info, 1);
  return wrap(info.Env(), at::argmax(tensorArg(info, 0), dim, boolArg(info, 2, false)));
}
static Napi::Value argmin(const Napi::CallbackInfo& info) {
  c10::optional<int64_t> dim;
  if (hasArg(info, 1)) dim = intArg(info, 1);
  return wrap(info.Env(), at::argmin(tensorArg(info, 0), dim, boolArg(info, 2, false)));
}

static Napi::Value softmax(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::softmax(tensorArg(info, 0), intArg(info, 1))); }
static Napi::Value logSoftmax(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::log_softmax(tensorArg(info, 0), intArg(info, 1))); }

// ---- shapes and indexing ----

static Napi::Value reshape(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::reshape(tensorArg(info, 0), intListArg(info, 1))); }
static Napi::Value flatten(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::flatten(tensorArg(info, 0), intArg(info, 1, 0), intArg(info, 2, -1))); }
static Napi::Value transpose(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::transpose(tensorArg(info, 0), intArg(info, 1), intArg(info, 2))); }
static Napi::Value permute(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::permute(tensorArg(info, 0), intListArg(info, 1))); }
static Napi::Value expand(const Napi::CallbackInfo& info) { return wrap(info.Env(), tensorArg(info, 0).expand(intListArg(info, 1))); }
static Napi::Value unsqueeze(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::unsqueeze(tensorArg(info, 0), intArg(info, 1))); }
// squeeze(x, dim|null)
static Napi::Value squeeze(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), hasArg(info, 1) ? at::squeeze(tensorArg(info, 0), intArg(info, 1)) : at::squeeze(tensorArg(info, 0)));
}
// narrow(x, dim, start, length): a view
static Napi::Value narrow(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::narrow(tensorArg(info, 0), intArg(info, 1), intArg(info, 2), intArg(info, 3))); }
static Napi::Value select(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::select(tensorArg(info, 0), intArg(info, 1), intArg(info, 2))); }
static Napi::Value cat(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::cat(tensorListArg(info, 0), intArg(info, 1, 0))); }
static Napi::Value stack(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::stack(tensorListArg(info, 0), intArg(info, 1, 0))); }
// indexSelect(x, dim, index)
static Napi::Value indexSelect(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::index_select(tensorArg(info, 0), intArg(info, 1), tensorArg(info, 2))); }
// gather(x, dim, index)
static Napi::Value gather(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::gather(tensorArg(info, 0), intArg(info, 1), tensorArg(info, 2))); }

// ---- linear algebra and nn layers ----

static Napi::Value matmul(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::matmul(tensorArg(info, 0), tensorArg(info, 1))); }

// linear(x, weight [out, in], bias|null)
static Napi::Value linear(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::linear(tensorArg(info, 0), tensorArg(info, 1), opt(optTensorArg(info, 2)))); }

// conv2d(x, weight, bias|null, stride, padding, dilation, groups)
static Napi::Value conv2d(const Napi::CallbackInfo& info) {
  int64_t s = intArg(info, 3, 1), p = intArg(info, 4, 0), d = intArg(info, 5, 1);
  return wrap(info.Env(), at::conv2d(tensorArg(info, 0), tensorArg(info, 1), opt(optTensorArg(info, 2)), {s, s}, {p, p}, {d, d}, intArg(info, 6, 1)));
}

// batchNorm(x, weight|null, bias|null, runningMean|null, runningVar|null, training, momentum, eps):
// in training mode the batch statistics normalise and the running stats are updated in place.
static Napi::Value batchNorm(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), at::batch_norm(tensorArg(info, 0), opt(optTensorArg(info, 1)), opt(optTensorArg(info, 2)), opt(optTensorArg(info, 3)),
                                         opt(optTensorArg(info, 4)), boolArg(info, 5, false), numberArg(info, 6, 0.1), numberArg(info, 7, 1e-5), true));
}

// maxPool2d(x, kernel, stride, padding)
static Napi::Value maxPool2d(const Napi::CallbackInfo& info) {
  int64_t k = intArg(info, 1), s = intArg(info, 2, k), p = intArg(info, 3, 0);
  return wrap(info.Env(), at::max_pool2d(tensorArg(info, 0), {k, k}, {s, s}, {p, p}));
}

// avgPool2d(x, kernel, stride, padding)
static Napi::Value avgPool2d(const Napi::CallbackInfo& info) {
  int64_t k = intArg(info, 1), s = intArg(info, 2, k), p = intArg(info, 3, 0);
  return wrap(info.Env(), at::avg_pool2d(tensorArg(info, 0), {k, k}, {s, s}, {p, p}));
}

// adaptiveAvgPool2d(x, [h, w])
static Napi::Value adaptiveAvgPool2d(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::adaptive_avg_pool2d(tensorArg(info, 0), intListArg(info, 1))); }

// dropout(x, p, training): draws from the global generator (manualSeed)
static Napi::Value dropout(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::dropout(tensorArg(info, 0), numberArg(info, 1), boolArg(info, 2, true))); }

// l2normalize(x, dim, eps): x / max(‖x‖₂, eps), as F.normalize
static Napi::Value l2normalize(const Napi::CallbackInfo& info) {
  auto& x = tensorArg(info, 0);
  int64_t dim = intArg(info, 1);
  return wrap(info.Env(), x / at::norm(x, 2, {dim}, true).clamp_min(numberArg(info, 2, 1e-12)).expand_as(x));
}

// ---- losses ----

// crossEntropy(logits [N, C], target [N] int64 class indices, reduction, labelSmoothing, weight|null, ignoreIndex)
static Napi::Value crossEntropy(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), at::cross_entropy_loss(tensorArg(info, 0), tensorArg(info, 1), opt(optTensorArg(info, 4)), reductionArg(info, 2), intArg(info, 5, -100),
                                                 numberArg(info, 3, 0.0)));
}

// bceWithLogits(logits, target, reduction, posWeight|null, weight|null)
static Napi::Value bceWithLogits(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), at::binary_cross_entropy_with_logits(tensorArg(info, 0), tensorArg(info, 1), opt(optTensorArg(info, 4)), opt(optTensorArg(info, 3)), reductionArg(info, 2)));
}

// mseLoss(a, b, reduction)
static Napi::Value mseLoss(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::mse_loss(tensorArg(info, 0), tensorArg(info, 1), reductionArg(info, 2))); }

void registerOps(Napi::Env env, Napi::Object exports) {
  IMAGINET_EXPORT(exports, unary);
  IMAGINET_EXPORT(exports, binary);
  IMAGINET_EXPORT(exports, clamp);
  IMAGINET_EXPORT(exports, where);
  IMAGINET_EXPORT(exports, maskedFill);
  IMAGINET_EXPORT(exports, inplace);
  IMAGINET_EXPORT(exports, fill_);
  IMAGINET_EXPORT(exports, reduce);
  IMAGINET_EXPORT(exports, argmax);
  IMAGINET_EXPORT(exports, argmin);
  IMAGINET_EXPORT(exports, softmax);
  IMAGINET_EXPORT(exports, logSoftmax);
  IMAGINET_EXPORT(exports, reshape);
  IMAGINET_EXPORT(exports, flatten);
  IMAGINET_EXPORT(exports, transpose);
  IMAGINET_EXPORT(exports, permute);
  IMAGINET_EXPORT(exports, expand);
  IMAGINET_EXPORT(exports, unsqueeze);
  IMAGINET_EXPORT(exports, squeeze);
  IMAGINET_EXPORT(exports, narrow);
  IMAGINET_EXPORT(exports, select);
  IMAGINET_EXPORT(exports, cat);
  IMAGINET_EXPORT(exports, stack);
  IMAGINET_EXPORT(exports, indexSelect);
  IMAGINET_EXPORT(exports, gather);
  IMAGINET_EXPORT(exports, matmul);
  IMAGINET_EXPORT(exports, linear);
  IMAGINET_EXPORT(exports, conv2d);
  IMAGINET_EXPORT(exports, batchNorm);
  IMAGINET_EXPORT(exports, maxPool2d);
  IMAGINET_EXPORT(exports, avgPool2d);
  IMAGINET_EXPORT(exports, adaptiveAvgPool2d);
  IMAGINET_EXPORT(exports, dropout);
  IMAGINET_EXPORT(exports, l2normalize);
  IMAGINET_EXPORT(exports, crossEntropy);
  IMAGINET_EXPORT(exports, bceWithLogits);
  IMAGINET_EXPORT(exports, mseLoss);
}

}  // namespace imaginet
