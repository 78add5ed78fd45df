// Shared declarations of the imaginet libtorch addon: the Tensor handle class, argument helpers
// and the error guard that turns libtorch exceptions into JS Errors.
#pragma once

#define NAPI_VERSION 8
#define NAPI_CPP_EXCEPTIONS
#define NODE_ADDON_API_DISABLE_DEPRECATED
#include <napi.h>

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace imaginet {

// Everything an environment (main thread or worker) needs; held as napi instance data, never static.
struct AddonData {
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference optimizerCtor;
};

AddonData& addonData(Napi::Env env);

// A JS object owning one at::Tensor handle. dispose() drops it at once; the GC finalizer otherwise.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  at::Tensor& get();
  void reset(at::Tensor t);
  bool disposed() const { return !t_.defined(); }

 private:
  at::Tensor t_;
  napi_env env_;
  int64_t accounted_ = 0;  // bytes reported to V8 as external memory
};

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

// Runs f, converting c10::Error / std::exception into a JS Error carrying the first message line.
Napi::Value callGuarded(const Napi::CallbackInfo& info, Fn f);
template <Fn F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return callGuarded(info, F);
}
#define IMAGINET_EXPORT(exports, name) \
  (exports).Set(#name, Napi::Function::New((exports).Env(), ::imaginet::guarded<name>, #name))

[[noreturn]] void throwType(Napi::Env env, const std::string& msg);

// As Optimizer.zero_grad on one tensor: detach and zero its gradient, or drop it (setToNone)
void clearGrad(at::Tensor& t, bool setToNone);

// ---- arguments ----
Napi::Value wrap(Napi::Env env, at::Tensor t);
bool isTensor(Napi::Env env, const Napi::Value& v);
at::Tensor& tensorArg(const Napi::CallbackInfo& info, size_t i);
// null / undefined give an undefined at::Tensor (libtorch's "no tensor")
at::Tensor optTensorArg(const Napi::CallbackInfo& info, size_t i);
// a tensor, or a JS number as a wrapped scalar (typed like Python's: integral numbers are int64)
at::Tensor tensorOrScalarArg(const Napi::CallbackInfo& info, size_t i);
std::vector<at::Tensor> tensorListArg(const Napi::CallbackInfo& info, size_t i);
std::vector<int64_t> intListArg(const Napi::CallbackInfo& info, size_t i);
bool hasArg(const Napi::CallbackInfo& info, size_t i);
double numberArg(const Napi::CallbackInfo& info, size_t i);
double numberArg(const Napi::CallbackInfo& info, size_t i, double dflt);
int64_t intArg(const Napi::CallbackInfo& info, size_t i);
int64_t intArg(const Napi::CallbackInfo& info, size_t i, int64_t dflt);
bool boolArg(const Napi::CallbackInfo& info, size_t i, bool dflt);
std::string stringArg(const Napi::CallbackInfo& info, size_t i);

bool isDtypeName(const std::string& s);
at::ScalarType parseDtype(Napi::Env env, const std::string& s);
std::string dtypeName(at::ScalarType t);
// dtype (string, default float32) and device (string, default cpu) arguments at i and i+1
at::TensorOptions optionsArg(const Napi::CallbackInfo& info, size_t i, at::ScalarType dflt = at::kFloat);

// ---- registration (one per source file) ----
void registerTensor(Napi::Env env, Napi::Object exports);
void registerOps(Napi::Env env, Napi::Object exports);
void registerOptim(Napi::Env env, Napi::Object exports);

}  // namespace imaginet
