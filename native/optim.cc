// Optimizers: torch::optim SGD, Adam and AdamW over a list of Tensor handles (shared with JS, so
// step() updates the parameters JS holds), with lr get/set for schedules and state save/load.
#include "common.h"

#include <torch/optim.h>
#include <torch/serialize/archive.h>

#include <memory>
#include <sstream>

namespace imaginet {

namespace {

class OptimizerWrap : public Napi::ObjectWrap<OptimizerWrap> {
 public:
  static Napi::Function define(Napi::Env env) { return DefineClass(env, "Optimizer", {}); }
  explicit OptimizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OptimizerWrap>(info) {}
  std::unique_ptr<torch::optim::Optimizer> opt;
  std::string kind;
};

double num(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throwType(o.Env(), std::string("option ") + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool flag(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) throwType(o.Env(), std::string("option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::tuple<double, double> betas(const Napi::Object& o) {
  Napi::Value v = o.Get("betas");
  if (v.IsUndefined()) return {0.9, 0.999};
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2) throwType(o.Env(), "option betas must be [beta1, beta2]");
  auto a = v.As<Napi::Array>();
  return {a.Get(0u).As<Napi::Number>().DoubleValue(), a.Get(1u).As<Napi::Number>().DoubleValue()};
}

OptimizerWrap& optimizerArg(const Napi::CallbackInfo& info, size_t i) {
  auto& data = addonData(info.Env());
  if (i >= info.Length() || !info[i].IsObject() || !info[i].As<Napi::Object>().InstanceOf(data.optimizerCtor.Value()))
    throwType(info.Env(), "argument " + std::to_string(i) + " must be an Optimizer");
  auto* w = OptimizerWrap::Unwrap(info[i].As<Napi::Object>());
  if (!w->opt) throw Napi::Error::New(info.Env(), "the optimizer was disposed");
  return *w;
}

}  // namespace

// optimizer(kind: "sgd"|"adam"|"adamw", params: Tensor[], options)
static Napi::Value optimizer(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto kind = stringArg(info, 0);
  auto params = tensorListArg(info, 1);
  Napi::Object o = hasArg(info, 2) && info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (kind == "sgd") {
    if (o.Get("lr").IsUndefined()) throwType(env, "SGD needs option lr");
    opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(num(o, "lr", 0))
                                                          .momentum(num(o, "momentum", 0))
                                                          .dampening(num(o, "dampening", 0))
                                                          .weight_decay(num(o, "weightDecay", 0))
                                                          .nesterov(flag(o, "nesterov", false)));
  } else if (kind == "adam") {
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(num(o, "lr", 1e-3))
                                                           .betas(betas(o))
                                                           .eps(num(o, "eps", 1e-8))
                                                           .weight_decay(num(o, "weightDecay", 0))
                                                           .amsgrad(flag(o, "amsgrad", false)));
  } else if (kind == "adamw") {
    opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(num(o, "lr", 1e-3))
                                                            .betas(betas(o))
                                                            .eps(num(o, "eps", 1e-8))
                                                            .weight_decay(num(o, "weightDecay", 1e-2))
                                                            .amsgrad(flag(o, "amsgrad", false)));
  } else {
    throwType(env, "unknown optimizer " + kind + " (sgd, adam, adamw)");
  }
  Napi::Object obj = addonData(env).optimizerCtor.New({});
  auto* w = OptimizerWrap::Unwrap(obj);
  w->opt = std::move(opt);
  w->kind = kind;
  return obj;
}

static Napi::Value optimStep(const Napi::CallbackInfo& info) {
  optimizerArg(info, 0).opt->step();
  return info.Env().Undefined();
}

// optimZeroGrad(o, setToNone = false)
static Napi::Value optimZeroGrad(const Napi::CallbackInfo& info) {
  auto& w = optimizerArg(info, 0);
  bool none = boolArg(info, 1, false);
  for (auto& group : w.opt->param_groups())
    for (auto& p : group.params()) clearGrad(p, none);
  return info.Env().Undefined();
}

// the learning rate of the first group (all groups share one here)
static Napi::Value optimGetLr(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), optimizerArg(info, 0).opt->param_groups().at(0).options().get_lr());
}

static Napi::Value optimSetLr(const Napi::CallbackInfo& info) {
  auto& w = optimizerArg(info, 0);
  double lr = numberArg(info, 1);
  for (auto& group : w.opt->param_groups()) group.options().set_lr(lr);
  return info.Env().Undefined();
}

// optimSaveState(o): libtorch's serialized optimizer (options and per-parameter state) as bytes
static Napi::Value optimSaveState(const Napi::CallbackInfo& info) {
  auto& w = optimizerArg(info, 0);
  torch::serialize::OutputArchive archive;
  w.opt->save(archive);
  std::ostringstream os;
  archive.save_to(os);
  std::string s = os.str();
  auto buf = Napi::ArrayBuffer::New(info.Env(), s.size());
  std::memcpy(buf.Data(), s.data(), s.size());
  return Napi::Uint8Array::New(info.Env(), s.size(), buf, 0);
}

// optimLoadState(o, bytes): restores what optimSaveState wrote, for an optimizer over the same parameter list
static Napi::Value optimLoadState(const Napi::CallbackInfo& info) {
  auto& w = optimizerArg(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throwType(info.Env(), "argument 1 must be a Uint8Array");
  auto bytes = info[1].As<Napi::Uint8Array>();
  std::istringstream is(std::string(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength()));
  torch::serialize::InputArchive archive;
  archive.load_from(is);
  w.opt->load(archive);
  // libtorch restores only the per-parameter state; restore the groups' options too (lr, betas, …), as Python's load_state_dict does
  torch::serialize::InputArchive groupsArchive;
  archive.read("param_groups", groupsArchive);
  std::vector<std::pair<std::vector<std::string>, std::unique_ptr<torch::optim::OptimizerOptions>>> saved;
  if (w.kind == "sgd") torch::optim::detail::serialize<torch::optim::SGDOptions>(groupsArchive, saved);
  else if (w.kind == "adam") torch::optim::detail::serialize<torch::optim::AdamOptions>(groupsArchive, saved);
  else torch::optim::detail::serialize<torch::optim::AdamWOptions>(groupsArchive, saved);
  auto& groups = w.opt->param_groups();
  for (size_t i = 0; i < saved.size() && i < groups.size(); i++) groups[i].set_options(std::move(saved[i].second));
  return info.Env().Undefined();
}

static Napi::Value optimDispose(const Napi::CallbackInfo& info) {
  auto& w = optimizerArg(info, 0);
  w.opt.reset();
  return info.Env().Undefined();
}

void registerOptim(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = OptimizerWrap::define(env);
  addonData(env).optimizerCtor = Napi::Persistent(ctor);
  IMAGINET_EXPORT(exports, optimizer);
  IMAGINET_EXPORT(exports, optimStep);
  IMAGINET_EXPORT(exports, optimZeroGrad);
  IMAGINET_EXPORT(exports, optimGetLr);
  IMAGINET_EXPORT(exports, optimSetLr);
  IMAGINET_EXPORT(exports, optimSaveState);
  IMAGINET_EXPORT(exports, optimLoadState);
  IMAGINET_EXPORT(exports, optimDispose);
}

}  // namespace imaginet
