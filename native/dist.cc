// PyTorch's distributed layer (c10d) for data-parallel training: a TCPStore rendezvous, the default
// process group (Gloo on the CPU; NCCL where libtorch was built with it), and the collectives the
// training loop needs. One process group per process, as torch.distributed's default group. Every
// collective waits for its result (the training step is synchronous) up to the group's timeout, so a
// peer that died or stalled ends in an Error here, never in a hang.
#define USE_C10D_GLOO
#include "common.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef IMAGINET_NCCL  // set by scripts/build-native.mjs when libtorch has CUDA and nccl.h is found
#define USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <mutex>

namespace imaginet {

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::string backend;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};

std::mutex groupMutex;
Group* group = nullptr;  // process-wide, as torch.distributed's default group

Group& current(Napi::Env env) {
  std::lock_guard<std::mutex> lock(groupMutex);
  if (!group) throw Napi::Error::New(env, "the process group is not initialised (distInit)");
  return *group;
}

// Waits for a collective; a failed or timed-out one becomes an Error naming the operation.
void finish(const c10::intrusive_ptr<c10d::Work>& work, const Group& g, const char* what) {
  try {
    if (!work->wait(g.timeout)) throw std::runtime_error("timed out");
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');
    if (nl != std::string::npos) msg = msg.substr(0, nl);
    throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + " (a peer died or stalled past the " +
                             std::to_string(g.timeout.count() / 1000) + " s timeout?): " + msg);
  }
}

c10d::ReduceOp reduceOp(Napi::Env env, const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  throwType(env, "reduce op must be sum, max or min, got " + op);
}

}  // namespace

// distInit(backend, addr, port, rank, worldSize, timeoutMs, isServer, prefix): the TCPStore at
// addr:port (hosted by this process when isServer: rank 0 of a plain launch; torchrun's agent hosts it
// otherwise), keys under `prefix` when given, and the process group over it.
static Napi::Value distInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string backend = stringArg(info, 0);
  std::string addr = stringArg(info, 1);
  int64_t port = intArg(info, 2), rank = intArg(info, 3), size = intArg(info, 4), timeoutMs = intArg(info, 5);
  bool isServer = boolArg(info, 6, rank == 0);
  std::string prefix = hasArg(info, 7) ? stringArg(info, 7) : "";
  if (port < 1 || port > 65535) throwType(env, "port must be 1..65535, got " + std::to_string(port));
  if (size < 1 || rank < 0 || rank >= size) throwType(env, "rank " + std::to_string(rank) + " is not in 0.." + std::to_string(size - 1));
  if (timeoutMs < 1) throwType(env, "the timeout must be positive");
  {
    std::lock_guard<std::mutex> lock(groupMutex);
    if (group) throw Napi::Error::New(env, "the process group is already initialised");
  }
  auto g = std::make_unique<Group>();
  g->backend = backend;
  g->rank = static_cast<int>(rank);
  g->size = static_cast<int>(size);
  g->timeout = std::chrono::milliseconds(timeoutMs);
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = isServer;
  so.numWorkers = static_cast<size_t>(size);
  so.waitWorkers = true;
  so.timeout = g->timeout;
  so.multiTenant = true;
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(addr, so);
  if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  g->store = store;
  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
    // as torch.distributed: GLOO_SOCKET_IFNAME picks the interface, else the host name's address
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname) : c10d::ProcessGroupGloo::createDefaultDevice());
    g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, g->rank, g->size, opts);
  } else if (backend == "nccl") {
#ifdef IMAGINET_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g->timeout;
    g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, g->rank, g->size, opts);
#else
    throw Napi::Error::New(env, "the NCCL backend is not built in: this libtorch has no CUDA/NCCL (use the gloo backend)");
#endif
  } else {
    throwType(env, "backend must be gloo or nccl, got " + backend);
  }
  std::lock_guard<std::mutex> lock(groupMutex);
  group = g.release();
  return env.Undefined();
}

// distDestroy(): drops the process group (a no-op when none)
static Napi::Value distDestroy(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(groupMutex);
  delete group;
  group = nullptr;
  return info.Env().Undefined();
}

// distInfo(): {rank, size, backend} or null
static Napi::Value distInfo(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(groupMutex);
  if (!group) return info.Env().Null();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", group->rank);
  o.Set("size", group->size);
  o.Set("backend", group->backend);
  return o;
}

// distAllReduce(tensors, op): each tensor reduced in place across ranks
static Napi::Value distAllReduce(const Napi::CallbackInfo& info) {
  Group& g = current(info.Env());
  std::vector<at::Tensor> ts = tensorListArg(info, 0);
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(info.Env(), hasArg(info, 1) ? stringArg(info, 1) : "sum");
  for (auto& t : ts) {
    if (!t.is_contiguous()) throwType(info.Env(), "distAllReduce: tensors must be contiguous");
    std::vector<at::Tensor> one{t};
    finish(g.pg->allreduce(one, o), g, "all-reduce");
  }
  return info.Env().Undefined();
}

// distAllReduceMean(tensors, bucketBytes): the mean over ranks of each tensor, in place, as DDP's
// gradient buckets: tensors are flattened into buckets of about bucketBytes (per dtype and device),
// each bucket summed in one all-reduce and divided by the world size.
static Napi::Value distAllReduceMean(const Napi::CallbackInfo& info) {
  Group& g = current(info.Env());
  std::vector<at::Tensor> ts = tensorListArg(info, 0);
  int64_t bucketBytes = intArg(info, 1, 25 << 20);
  at::NoGradGuard noGrad;
  size_t i = 0;
  while (i < ts.size()) {
    std::vector<at::Tensor> bucket{ts[i]};
    int64_t bytes = ts[i].numel() * ts[i].element_size();
    size_t j = i + 1;
    for (; j < ts.size() && bytes < bucketBytes && ts[j].scalar_type() == ts[i].scalar_type() && ts[j].device() == ts[i].device(); j++) {
      bucket.push_back(ts[j]);
      bytes += ts[j].numel() * ts[j].element_size();
    }
    std::vector<at::Tensor> flats;
    for (auto& t : bucket) flats.push_back(t.reshape({-1}));
    std::vector<at::Tensor> flat{at::cat(flats)};
    finish(g.pg->allreduce(flat, c10d::AllreduceOptions()), g, "gradient all-reduce");
    flat[0].div_(g.size);
    int64_t off = 0;
    for (auto& t : bucket) {
      t.copy_(flat[0].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
    i = j;
  }
  return info.Env().Undefined();
}

// distAllGather(t): every rank's t (same shape on all) concatenated along dim 0, rank by rank; not
// differentiable (the result is a new tensor without history)
static Napi::Value distAllGather(const Napi::CallbackInfo& info) {
  Group& g = current(info.Env());
  at::Tensor t = tensorArg(info, 0).detach().contiguous();
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.size; r++) out[0].push_back(at::empty_like(t));
  std::vector<at::Tensor> in{t};
  finish(g.pg->allgather(out, in), g, "all-gather");
  return wrap(info.Env(), at::cat(out[0], 0));
}

// distBroadcast(tensors, root): root's values copied into every rank's tensors, in place
static Napi::Value distBroadcast(const Napi::CallbackInfo& info) {
  Group& g = current(info.Env());
  std::vector<at::Tensor> ts = tensorListArg(info, 0);
  c10d::BroadcastOptions o;
  o.rootRank = intArg(info, 1, 0);
  at::NoGradGuard noGrad;
  for (auto& t : ts) {
    if (!t.is_contiguous()) throwType(info.Env(), "distBroadcast: tensors must be contiguous");
    std::vector<at::Tensor> one{t};
    finish(g.pg->broadcast(one, o), g, "broadcast");
  }
  return info.Env().Undefined();
}

// distBarrier(): returns once every rank has called it
static Napi::Value distBarrier(const Napi::CallbackInfo& info) {
  Group& g = current(info.Env());
  c10d::BarrierOptions o;
  o.timeout = g.timeout;
  finish(g.pg->barrier(o), g, "barrier");
  return info.Env().Undefined();
}

void registerDist(Napi::Env env, Napi::Object exports) {
  IMAGINET_EXPORT(exports, distInit);
  IMAGINET_EXPORT(exports, distDestroy);
  IMAGINET_EXPORT(exports, distInfo);
  IMAGINET_EXPORT(exports, distAllReduce);
  IMAGINET_EXPORT(exports, distAllReduceMean);
  IMAGINET_EXPORT(exports, distAllGather);
  IMAGINET_EXPORT(exports, distBroadcast);
  IMAGINET_EXPORT(exports, distBarrier);
}

}  // namespace imaginet
