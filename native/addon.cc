// Module entry: per-environment data (so the addon loads in any number of worker threads) and
// process-wide settings (threads, seeds, CUDA).
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <c10/core/CPUAllocator.h>

#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <string>

namespace imaginet {

// native/dist.cc (declared here, not in common.h, so that adding it rebuilds only this file)
void registerDist(Napi::Env env, Napi::Object exports);

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

// setAllowTF32(on): TF32 tensor cores for CUDA float32 convolutions (cuDNN) and matmuls (cuBLAS); PyTorch's
// defaults are on for cuDNN, off for cuBLAS. Parity with float32 bounds needs both off.
static Napi::Value setAllowTF32(const Napi::CallbackInfo& info) {
  bool on = boolArg(info, 0, false);
  at::globalContext().setAllowTF32CuDNN(on);
  at::globalContext().setAllowTF32CuBLAS(on);
  return info.Env().Undefined();
}

static Napi::Value parallelInfo(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), at::get_parallel_info()); }

// libtorch's default CPU allocator asks posix_memalign(64, n) for every tensor. A freed block is then
// just too small to serve the next request of the same size (the alignment slack), and the small
// allocations node makes between tensors keep holes from merging: under a training loop glibc's heap
// grows without bound. This allocator asks malloc for a size rounded up to 4 KiB plus the alignment
// and aligns inside it, so a freed block fits the next tensor of that size exactly and is reused, as
// in a Python process. IMAGINET_TORCH_ALLOCATOR=default keeps libtorch's own.
//
// Blocks of 1 MiB or more are also kept when freed and handed to the next request of the same size:
// above glibc's largest mmap threshold (32 MiB) malloc maps fresh pages for every such tensor and the
// kernel faults and zeroes each of them again, a third of a ResNet-50 training step's time. A miss
// frees cached blocks, largest first, while live + cached would pass 17/16 of the highest live total
// seen so far, so the process holds at most 1/16 more than the peak a non-caching allocator reaches
// (the slack absorbs tensors freed a little later in one step than in another: with none, a step
// evicted and refaulted most of the cache); a training loop, which asks for the same sizes every
// step, is served from the cache after its first step.
class BlockCache {
 public:
  static constexpr size_t kMin = size_t{1} << 20;
  // a cached block of exactly n bytes, or nullptr; counts n as live either way
  void* take(size_t n) {
    std::lock_guard<std::mutex> lock(m_);
    live_ += n;
    auto it = free_.find(n);
    if (it != free_.end() && !it->second.empty()) {
      void* data = it->second.back();
      it->second.pop_back();
      cached_ -= n;
      return data;
    }
    peak_ = std::max(peak_, live_);
    while (cached_ > 0 && live_ + cached_ > peak_ + peak_ / 16) evictLargest();
    return nullptr;
  }
  void give(void* data, size_t n) {
    std::lock_guard<std::mutex> lock(m_);
    live_ -= n;
    free_[n].push_back(data);
    cached_ += n;
  }
  // frees every cached block (the live ones are untouched)
  void clear() {
    std::lock_guard<std::mutex> lock(m_);
    while (cached_ > 0) evictLargest();
  }
  // n bytes that take() counted but that could not be allocated
  void forget(size_t n) {
    std::lock_guard<std::mutex> lock(m_);
    live_ -= n;
  }

 private:
  void evictLargest() {
    auto it = free_.end();
    for (auto i = free_.begin(); i != free_.end(); ++i)
      if (!i->second.empty() && (it == free_.end() || i->first > it->first)) it = i;
    void* data = it->second.back();
    it->second.pop_back();
    cached_ -= it->first;
    std::free(static_cast<void**>(data)[-1]);
  }
  std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t live_ = 0, cached_ = 0, peak_ = 0;
};

struct ReusableCpuAllocator final : public c10::Allocator {
  static constexpr size_t kAlign = 64;
  // the block malloc returned and the rounded size are stored just below the aligned data, so data
  // is its own context (libtorch's raw_allocate / raw_deallocate need that)
  static constexpr size_t kSlack = kAlign + 2 * sizeof(void*);
  c10::DataPtr allocate(size_t n) const override {
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    size_t rounded = (n + 4095) & ~static_cast<size_t>(4095);
    bool cacheable = rounded >= BlockCache::kMin;
    if (cacheable) {
      if (void* data = cache().take(rounded)) return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
    }
    void* raw = std::malloc(rounded + kSlack);
    if (raw == nullptr && cacheable) cache().forget(rounded);
    TORCH_CHECK(raw != nullptr, "out of memory: could not allocate ", n, " bytes");
    uintptr_t first = reinterpret_cast<uintptr_t>(raw) + 2 * sizeof(void*);
    void* data = reinterpret_cast<void*>((first + kAlign - 1) & ~static_cast<uintptr_t>(kAlign - 1));
    static_cast<void**>(data)[-1] = raw;
    static_cast<size_t*>(data)[-2] = rounded;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  static void release(void* data) {
    if (!data) return;
    size_t rounded = static_cast<size_t*>(data)[-2];
    if (rounded >= BlockCache::kMin) cache().give(data, rounded);
    else std::free(static_cast<void**>(data)[-1]);
  }
  static BlockCache& cache() {
    static BlockCache* c = new BlockCache();  // never destroyed: tensors may be freed after static destructors ran
    return *c;
  }
};

static void installAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* choice = std::getenv("IMAGINET_TORCH_ALLOCATOR");
    if (choice && std::string(choice) == "default") return;
    static ReusableCpuAllocator allocator;
    c10::SetCPUAllocator(&allocator, /*priority=*/100);
  });
}

// emptyCache(): returns the CPU allocator's cached blocks to the system (after training, before other big work)
static Napi::Value emptyCache(const Napi::CallbackInfo& info) {
  ReusableCpuAllocator::cache().clear();
  return info.Env().Undefined();
}

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  installAllocator();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node when this environment is torn down
  Napi::Function tensor = TensorWrap::define(env);
  data->tensorCtor = Napi::Persistent(tensor);
  exports.Set("Tensor", tensor);
  exports.Set("version", Napi::String::New(env, std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH)));
  registerTensor(env, exports);
  registerOps(env, exports);
  registerOptim(env, exports);
  registerDist(env, exports);
  IMAGINET_EXPORT(exports, setNumThreads);
  IMAGINET_EXPORT(exports, getNumThreads);
  IMAGINET_EXPORT(exports, manualSeed);
  IMAGINET_EXPORT(exports, cudaAvailable);
  IMAGINET_EXPORT(exports, cudaDeviceCount);
  IMAGINET_EXPORT(exports, parallelInfo);
  IMAGINET_EXPORT(exports, setAllowTF32);
  IMAGINET_EXPORT(exports, emptyCache);
  return exports;
}

}  // namespace imaginet

static Napi::Object initModule(Napi::Env env, Napi::Object exports) { return imaginet::init(env, exports); }

NODE_API_MODULE(imaginet_torch, initModule)
