// Module entry: per-environment data (so the addon loads in any number of worker threads) and
// process-wide settings (threads, seeds, CUDA).
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <cstdlib>
#include <mutex>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace imaginet {

// setNumThreads(n): intra-op threads (with OpenMP this applies to the calling thread)
static Napi::Value setNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = intArg(info, 0);
  if (n < 1) throwType(info.Env(), "the number of threads must be at least 1");
  at::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

static Napi::Value getNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// manualSeed(seed): seeds the global generators (CPU and CUDA), used by dropout and seedless random tensors
static Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  at::manual_seed(static_cast<uint64_t>(intArg(info, 0)));
  return info.Env().Undefined();
}

static Napi::Value cudaAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), at::hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0); }
static Napi::Value cudaDeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0); }

static Napi::Value parallelInfo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), at::get_parallel_info()); }

// glibc raises its mmap threshold after the first large free, so later tensors come from the heap;
// with small JS-owned wrappers between them, freed tensor blocks (posix_memalign'd, slightly larger
// than a hole) are rarely reused and RSS grows without bound. A fixed threshold keeps large tensors
// mmap'd, returned to the OS on release. Opt out with IMAGINET_MALLOC_DEFAULTS=1 or MALLOC_MMAP_THRESHOLD_.
static void fixMallocThreshold() {
#ifdef __GLIBC__
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("IMAGINET_MALLOC_DEFAULTS") || std::getenv("MALLOC_MMAP_THRESHOLD_")) return;
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  });
#endif
}

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  fixMallocThreshold();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node when this environment is torn down
  Napi::Function tensor = TensorWrap::define(env);
  data->tensorCtor = Napi::Persistent(tensor);
  exports.Set("Tensor", tensor);
  exports.Set("version", Napi::String::New(env, std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH)));
  registerTensor(env, exports);
  registerOps(env, exports);
  registerOptim(env, exports);
  IMAGINET_EXPORT(exports, setNumThreads);
  IMAGINET_EXPORT(exports, getNumThreads);
  IMAGINET_EXPORT(exports, manualSeed);
  IMAGINET_EXPORT(exports, cudaAvailable);
  IMAGINET_EXPORT(exports, cudaDeviceCount);
  IMAGINET_EXPORT(exports, parallelInfo);
  return exports;
}

}  // namespace imaginet

static Napi::Object initModule(Napi::Env env, Napi::Object exports) { return imaginet::init(env, exports); }

NODE_API_MODULE(imaginet_torch, initModule)
