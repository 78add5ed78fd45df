// The Tensor handle, argument helpers, tensor creation, copies in and out, and autograd.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <cstring>
#include <functional>

namespace imaginet {

AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

[[noreturn]] void throwType(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

static std::string firstLine(const char* what) {
  std::string s(what ? what : "unknown libtorch error");
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

Napi::Value callGuarded(const Napi::CallbackInfo& info, Fn f) {
  try {
    return f(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), firstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), firstLine(e.what()));
  }
}

// ---- TensorWrap ----

Napi::Function TensorWrap::define(Napi::Env env) { return DefineClass(env, "Tensor", {}); }

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info), env_(info.Env()) {}

TensorWrap::~TensorWrap() { reset(at::Tensor()); }

at::Tensor& TensorWrap::get() {
  if (!t_.defined()) throw Napi::Error::New(Env(), "the tensor was disposed");
  return t_;
}

void TensorWrap::reset(at::Tensor t) {
  // Only non-view tensors count their storage, so views and reshapes do not inflate V8's estimate.
  int64_t bytes = 0;
  if (t.defined() && !t.is_view() && t.has_storage()) bytes = static_cast<int64_t>(t.storage().nbytes());
  int64_t delta = bytes - accounted_;
  t_ = std::move(t);
  accounted_ = bytes;
  if (delta != 0) {
    int64_t ignored;
    napi_adjust_external_memory(env_, delta, &ignored);
  }
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  Napi::Object obj = addonData(env).tensorCtor.New({});
  TensorWrap::Unwrap(obj)->reset(std::move(t));
  return obj;
}

bool isTensor(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(addonData(env).tensorCtor.Value());
}

// ---- arguments ----

bool hasArg(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() && !info[i].IsUndefined() && !info[i].IsNull(); }

at::Tensor& tensorArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !isTensor(info.Env(), info[i])) throwType(info.Env(), "argument " + std::to_string(i) + " must be a Tensor");
  return TensorWrap::Unwrap(info[i].As<Napi::Object>())->get();
}

at::Tensor optTensorArg(const Napi::CallbackInfo& info, size_t i) { return hasArg(info, i) ? tensorArg(info, i) : at::Tensor(); }

static at::Tensor wrappedScalar(double v) {
  at::Tensor s = (std::nearbyint(v) == v && std::abs(v) < 9.007199254740992e15) ? at::scalar_tensor(static_cast<int64_t>(v), at::kLong)
                                                                                  : at::scalar_tensor(v, at::kDouble);
  s.unsafeGetTensorImpl()->set_wrapped_number(true);
  return s;
}

at::Tensor tensorOrScalarArg(const Napi::CallbackInfo& info, size_t i) {
  if (i < info.Length() && info[i].IsNumber()) return wrappedScalar(info[i].As<Napi::Number>().DoubleValue());
  return tensorArg(info, i);
}

std::vector<at::Tensor> tensorListArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArray()) throwType(info.Env(), "argument " + std::to_string(i) + " must be an array of Tensors");
  auto arr = info[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!isTensor(info.Env(), v)) throwType(info.Env(), "argument " + std::to_string(i) + "[" + std::to_string(k) + "] must be a Tensor");
    out.push_back(TensorWrap::Unwrap(v.As<Napi::Object>())->get());
  }
  return out;
}

static int64_t toInt(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) throwType(env, what + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::nearbyint(d) != d) throwType(env, what + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

std::vector<int64_t> intListArg(const Napi::CallbackInfo& info, size_t i) {
  std::string what = "argument " + std::to_string(i);
  if (i >= info.Length() || !info[i].IsArray()) throwType(info.Env(), what + " must be an array of integers");
  auto arr = info[i].As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) out[k] = toInt(info.Env(), arr.Get(k), what + "[" + std::to_string(k) + "]");
  return out;
}

double numberArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsNumber()) throwType(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
double numberArg(const Napi::CallbackInfo& info, size_t i, double dflt) { return hasArg(info, i) ? numberArg(info, i) : dflt; }

int64_t intArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length()) throwType(info.Env(), "argument " + std::to_string(i) + " must be an integer");
  return toInt(info.Env(), info[i], "argument " + std::to_string(i));
}
int64_t intArg(const Napi::CallbackInfo& info, size_t i, int64_t dflt) { return hasArg(info, i) ? intArg(info, i) : dflt; }

bool boolArg(const Napi::CallbackInfo& info, size_t i, bool dflt) {
  if (!hasArg(info, i)) return dflt;
  if (!info[i].IsBoolean()) throwType(info.Env(), "argument " + std::to_string(i) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsString()) throwType(info.Env(), "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

static const std::vector<std::pair<std::string, at::ScalarType>>& dtypes() {
  static const std::vector<std::pair<std::string, at::ScalarType>> t = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16}, {"int64", at::kLong},
      {"int32", at::kInt},     {"int16", at::kShort},    {"int8", at::kChar},    {"uint8", at::kByte},         {"bool", at::kBool},
  };
  return t;
}

bool isDtypeName(const std::string& s) {
  for (auto& [n, t] : dtypes())
    if (n == s) return true;
  return false;
}

at::ScalarType parseDtype(Napi::Env env, const std::string& s) {
  for (auto& [n, t] : dtypes())
    if (n == s) return t;
  throwType(env, "unknown dtype " + s);
}

std::string dtypeName(at::ScalarType st) {
  for (auto& [n, t] : dtypes())
    if (t == st) return n;
  return c10::toString(st);
}

at::TensorOptions optionsArg(const Napi::CallbackInfo& info, size_t i, at::ScalarType dflt) {
  auto o = at::TensorOptions().dtype(hasArg(info, i) ? parseDtype(info.Env(), stringArg(info, i)) : dflt);
  if (hasArg(info, i + 1)) o = o.device(at::Device(stringArg(info, i + 1)));
  return o;
}

// ---- creation ----

// fromArray(data: TypedArray, shape, dtype?): a copy
static Napi::Value fromArray(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray()) throwType(info.Env(), "argument 0 must be a typed array");
  auto ta = info[0].As<Napi::TypedArray>();
  at::ScalarType st;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: st = at::kFloat; break;
    case napi_float64_array: st = at::kDouble; break;
    case napi_int32_array: st = at::kInt; break;
    case napi_bigint64_array: st = at::kLong; break;
    case napi_uint8_array: st = at::kByte; break;
    case napi_int8_array: st = at::kChar; break;
    case napi_int16_array: st = at::kShort; break;
    default: throwType(info.Env(), "unsupported typed array (use Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array, Int8Array or Int16Array)");
  }
  auto shape = intListArg(info, 1);
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != static_cast<int64_t>(ta.ElementLength()))
    throw Napi::Error::New(info.Env(), "shape " + c10::str(at::IntArrayRef(shape)) + " holds " + std::to_string(n) + " elements but the array has " + std::to_string(ta.ElementLength()));
  auto* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
  if (n > 0) std::memcpy(t.data_ptr(), data, ta.ByteLength());
  if (hasArg(info, 2)) t = t.to(parseDtype(info.Env(), stringArg(info, 2)));
  return wrap(info.Env(), t);
}

// create(kind: "zeros"|"ones"|"empty", shape, dtype?, device?)
static Napi::Value create(const Napi::CallbackInfo& info) {
  auto kind = stringArg(info, 0);
  auto shape = intListArg(info, 1);
  auto o = optionsArg(info, 2);
  if (kind == "zeros") return wrap(info.Env(), at::zeros(shape, o));
  if (kind == "ones") return wrap(info.Env(), at::ones(shape, o));
  if (kind == "empty") return wrap(info.Env(), at::empty(shape, o));
  throwType(info.Env(), "unknown kind " + kind);
}

// full(shape, value, dtype?, device?)
static Napi::Value full(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::full(intListArg(info, 0), numberArg(info, 1), optionsArg(info, 2))); }

// arange(start, end, step, dtype?, device?)
static Napi::Value arange(const Napi::CallbackInfo& info) {
  return wrap(info.Env(), at::arange(numberArg(info, 0), numberArg(info, 1), numberArg(info, 2), optionsArg(info, 3)));
}

// eye(n, m, dtype?, device?)
static Napi::Value eye(const Napi::CallbackInfo& info) { return wrap(info.Env(), at::eye(intArg(info, 0), intArg(info, 1), optionsArg(info, 2))); }

// Random tensors draw from a generator seeded by the call (reproducible), or the global one when seed is null.
// They are drawn on the CPU and moved, so a seed gives the same values on every device.
static at::Tensor drawn(const Napi::CallbackInfo& info, size_t seedAt, size_t optsAt, at::ScalarType dflt,
                         const std::function<at::Tensor(c10::optional<at::Generator>, at::TensorOptions)>& f) {
  auto o = optionsArg(info, optsAt, dflt);
  c10::optional<at::Generator> gen;
  if (hasArg(info, seedAt)) gen = at::detail::createCPUGenerator(static_cast<uint64_t>(intArg(info, seedAt)));
  at::Tensor t = f(gen, o.device(at::kCPU));
  return o.device().is_cpu() ? t : t.to(o.device());
}

// randn(shape, seed|null, dtype?, device?) / rand(...)
static Napi::Value randn(const Napi::CallbackInfo& info) {
  auto shape = intListArg(info, 0);
  return wrap(info.Env(), drawn(info, 1, 2, at::kFloat, [&](auto g, auto o) { return at::randn(shape, g, o); }));
}
static Napi::Value rand(const Napi::CallbackInfo& info) {
  auto shape = intListArg(info, 0);
  return wrap(info.Env(), drawn(info, 1, 2, at::kFloat, [&](auto g, auto o) { return at::rand(shape, g, o); }));
}
// randint(low, high, shape, seed|null, dtype = int64, device?)
static Napi::Value randint(const Napi::CallbackInfo& info) {
  auto low = intArg(info, 0), high = intArg(info, 1);
  auto shape = intListArg(info, 2);
  return wrap(info.Env(), drawn(info, 3, 4, at::kLong, [&](auto g, auto o) { return at::randint(low, high, shape, g, o); }));
}
// randperm(n, seed|null, dtype = int64, device?)
static Napi::Value randperm(const Napi::CallbackInfo& info) {
  auto n = intArg(info, 0);
  return wrap(info.Env(), drawn(info, 1, 2, at::kLong, [&](auto g, auto o) { return at::randperm(n, g, o); }));
}

// ---- reading out ----

static Napi::Value toArray(const Napi::CallbackInfo& info) {
  at::Tensor t = tensorArg(info, 0).detach();
  if (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16) t = t.to(at::kFloat);
  t = t.to(at::kCPU).contiguous();
  auto env = info.Env();
  size_t bytes = t.numel() * t.element_size();
  auto buf = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  size_t n = t.numel();
  switch (t.scalar_type()) {
    case at::kFloat: return Napi::Float32Array::New(env, n, buf, 0);
    case at::kDouble: return Napi::Float64Array::New(env, n, buf, 0);
    case at::kInt: return Napi::Int32Array::New(env, n, buf, 0);
    case at::kLong: return Napi::BigInt64Array::New(env, n, buf, 0);
    case at::kShort: return Napi::Int16Array::New(env, n, buf, 0);
    case at::kChar: return Napi::Int8Array::New(env, n, buf, 0);
    case at::kByte:
    case at::kBool: return Napi::Uint8Array::New(env, n, buf, 0);
    default: throw Napi::Error::New(env, "cannot copy out dtype " + dtypeName(t.scalar_type()));
  }
}

static Napi::Value item(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tensorArg(info, 0).item<double>()); }

static Napi::Value shape(const Napi::CallbackInfo& info) {
  auto sizes = tensorArg(info, 0).sizes();
  auto arr = Napi::Array::New(info.Env(), sizes.size());
  for (size_t k = 0; k < sizes.size(); k++) arr.Set(k, Napi::Number::New(info.Env(), static_cast<double>(sizes[k])));
  return arr;
}

static Napi::Value dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtypeName(tensorArg(info, 0).scalar_type())); }
static Napi::Value device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), tensorArg(info, 0).device().str()); }

// to(t, target): target is a dtype name or a device ("cpu", "cuda", "cuda:1")
static Napi::Value to(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  auto target = stringArg(info, 1);
  if (isDtypeName(target)) return wrap(info.Env(), t.to(parseDtype(info.Env(), target)));
  return wrap(info.Env(), t.to(at::Device(target)));
}

static Napi::Value clone(const Napi::CallbackInfo& info) { return wrap(info.Env(), tensorArg(info, 0).clone()); }
// contiguous(t, format = "contiguous" | "channels_last"): channels_last stores a 4-D tensor NHWC (cuDNN's and oneDNN's faster layout)
static Napi::Value contiguous(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  std::string format = hasArg(info, 1) ? stringArg(info, 1) : "contiguous";
  if (format == "contiguous") return wrap(info.Env(), t.contiguous());
  if (format == "channels_last") return wrap(info.Env(), t.contiguous(at::MemoryFormat::ChannelsLast));
  throwType(info.Env(), "memory format must be contiguous or channels_last, got " + format);
}

static Napi::Value isChannelsLast(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensorArg(info, 0).is_contiguous(at::MemoryFormat::ChannelsLast));
}

static Napi::Value dispose(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject() || !isTensor(info.Env(), info[0])) throwType(info.Env(), "argument 0 must be a Tensor");
  TensorWrap::Unwrap(info[0].As<Napi::Object>())->reset(at::Tensor());
  return info.Env().Undefined();
}

static Napi::Value isDisposed(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject() || !isTensor(info.Env(), info[0])) throwType(info.Env(), "argument 0 must be a Tensor");
  return Napi::Boolean::New(info.Env(), TensorWrap::Unwrap(info[0].As<Napi::Object>())->disposed());
}

// ---- autograd ----

static Napi::Value requiresGrad(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).requires_grad()); }

static Napi::Value setRequiresGrad(const Napi::CallbackInfo& info) {
  tensorArg(info, 0).set_requires_grad(boolArg(info, 1, true));
  return info.Env().Undefined();
}

static Napi::Value grad(const Napi::CallbackInfo& info) {
  const at::Tensor& g = tensorArg(info, 0).grad();
  return g.defined() ? wrap(info.Env(), g) : info.Env().Undefined();
}

// backward(t, grad?, retainGraph?)
static Napi::Value backward(const Napi::CallbackInfo& info) {
  auto& t = tensorArg(info, 0);
  at::Tensor g = optTensorArg(info, 1);
  bool retain = boolArg(info, 2, false);
  t.backward(g, retain, false);
  return info.Env().Undefined();
}

void clearGrad(at::Tensor& t, bool setToNone) {
  at::Tensor& g = t.mutable_grad();
  if (!g.defined()) return;
  if (setToNone) {
    g = at::Tensor();
    return;
  }
  if (g.grad_fn()) g = g.detach();
  else g.requires_grad_(false);
  g.zero_();
}

// zeroGrad(t, setToNone?)
static Napi::Value zeroGrad(const Napi::CallbackInfo& info) {
  clearGrad(tensorArg(info, 0), boolArg(info, 1, false));
  return info.Env().Undefined();
}

static Napi::Value detach(const Napi::CallbackInfo& info) { return wrap(info.Env(), tensorArg(info, 0).detach()); }
static Napi::Value isLeaf(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), tensorArg(info, 0).is_leaf()); }

// noGrad(fn): runs fn with gradient recording off and returns its result
static Napi::Value noGrad(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throwType(info.Env(), "argument 0 must be a function");
  c10::NoGradGuard guard;
  return info[0].As<Napi::Function>().Call({});
}

// autocast(deviceType "cpu" | "cuda", dtype, fn): runs fn under torch.autocast(deviceType, dtype) and returns its
// result. The state is thread-local, as in Python; the cache of weights cast for this region is cleared when the
// outermost autocast region ends (Python's autocast.__exit__).
static Napi::Value autocast(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string deviceType = stringArg(info, 0);
  at::ScalarType dtype = parseDtype(env, stringArg(info, 1));
  if (info.Length() < 3 || !info[2].IsFunction()) throwType(env, "argument 2 must be a function");
  if (dtype != at::kBFloat16 && dtype != at::kHalf) throwType(env, "autocast runs in bfloat16 or float16");
  bool cuda = deviceType == "cuda";
  if (!cuda && deviceType != "cpu") throwType(env, "autocast's device type must be cpu or cuda, got " + deviceType);
  // libtorch 1.13's CPU autocast supports only bfloat16
  if (!cuda && dtype != at::kBFloat16) throwType(env, "autocast on the CPU runs in bfloat16 only (float16 needs CUDA)");
  bool wasEnabled = cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  at::ScalarType wasDtype = cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  auto set = [cuda](bool on, at::ScalarType dt) {
    if (cuda) {
      at::autocast::set_autocast_gpu_dtype(dt);
      at::autocast::set_enabled(on);
    } else {
      at::autocast::set_autocast_cpu_dtype(dt);
      at::autocast::set_cpu_enabled(on);
    }
  };
  set(true, dtype);
  at::autocast::increment_nesting();
  auto restore = [&] {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(wasEnabled, wasDtype);
  };
  Napi::Value result;
  try {
    result = info[2].As<Napi::Function>().Call({});
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return result;
}

static Napi::Value isGradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }

void registerTensor(Napi::Env env, Napi::Object exports) {
  IMAGINET_EXPORT(exports, fromArray);
  IMAGINET_EXPORT(exports, create);
  IMAGINET_EXPORT(exports, full);
  IMAGINET_EXPORT(exports, arange);
  IMAGINET_EXPORT(exports, eye);
  IMAGINET_EXPORT(exports, randn);
  IMAGINET_EXPORT(exports, rand);
  IMAGINET_EXPORT(exports, randint);
  IMAGINET_EXPORT(exports, randperm);
  IMAGINET_EXPORT(exports, toArray);
  IMAGINET_EXPORT(exports, item);
  IMAGINET_EXPORT(exports, shape);
  IMAGINET_EXPORT(exports, dtype);
  IMAGINET_EXPORT(exports, device);
  IMAGINET_EXPORT(exports, to);
  IMAGINET_EXPORT(exports, clone);
  IMAGINET_EXPORT(exports, contiguous);
  IMAGINET_EXPORT(exports, dispose);
  IMAGINET_EXPORT(exports, isDisposed);
  IMAGINET_EXPORT(exports, requiresGrad);
  IMAGINET_EXPORT(exports, setRequiresGrad);
  IMAGINET_EXPORT(exports, grad);
  IMAGINET_EXPORT(exports, backward);
  IMAGINET_EXPORT(exports, zeroGrad);
  IMAGINET_EXPORT(exports, detach);
  IMAGINET_EXPORT(exports, isLeaf);
  IMAGINET_EXPORT(exports, noGrad);
  IMAGINET_EXPORT(exports, isGradEnabled);
  IMAGINET_EXPORT(exports, autocast);
  IMAGINET_EXPORT(exports, isChannelsLast);
}

}  // namespace imaginet
