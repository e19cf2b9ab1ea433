// A restricted pickle machine: it understands the data opcodes of protocols 0-5 and exactly the
// globals a torch state dict needs, and builds an inert value graph. It never calls anything,
// never imports anything: an unknown global is an error (or, when allowed, an inert placeholder).
//
// Values live in an arena and refer to each other by index, so cyclic or deeply nested pickles
// (a = []; a.append(a)) cannot overflow the stack on destruction or leak; whoever walks the graph
// bounds depth and visits. Memory stays a small multiple of the input (ParseOptions limits).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "difss/weights/index.hpp"

namespace difss::weights::detail {

enum class Kind : std::uint8_t {
  None, Bool, Int, BigInt, Float, Str, Bytes, List, Tuple, Dict, Set, Global, Storage, Tensor, Object
};
const char* kind_name(Kind k) noexcept;

// The globals the machine knows; anything else is refused (or Inert when allowed).
enum class GlobalId : std::uint8_t {
  OrderedDict, RebuildTensorV2, RebuildParameter, RebuildParameterWithState, RebuildFromTypeV2,
  TensorClass, ParameterClass, StorageType, CodecsEncode, SetType, FrozensetType, Inert
};

struct Node {
  Kind kind = Kind::None;
  std::uint8_t sub = 0;         // Global: GlobalId; Storage type global: DType in `value`
  std::uint32_t aux = kNoAux;   // Str/Bytes/BigInt/Global: string index; containers: sequence
                                // index; Storage: storage index; Tensor: tensor index
  std::int64_t value = 0;       // Bool/Int: the value; Float: the bits; StorageType: DType
  static constexpr std::uint32_t kNoAux = 0xFFFFFFFFu;
};

// A storage reached through a persistent id ('storage', <type>, key, location, numel).
struct StorageRef {
  std::string key;
  DType dtype = DType::F32;
  std::uint64_t numel = 0;
};

// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
struct TensorSpec {
  std::uint32_t storage = 0;  // index into Unpickler::storages()
  std::uint64_t offset = 0;
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;
};

class Unpickler {
 public:
  static constexpr std::uint32_t kNone = 0, kFalse = 1, kTrue = 2;

  // `what` names the pickle in messages ("data.pkl"); `source` names the file.
  Unpickler(const std::string& source, std::string what, const ParseOptions& options);
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Runs one pickle from data[0] to its STOP opcode; returns the root value and stores the number
  // of bytes consumed. The memo is reset for every call, the arena is kept (legacy files hold
  // several pickles in a row).
  std::uint32_t run(const std::uint8_t* data, std::size_t size, std::size_t* consumed);

  const Node& node(std::uint32_t id) const { return nodes_[id]; }
  Kind kind(std::uint32_t id) const { return nodes_[id].kind; }
  const std::string& text(std::uint32_t id) const;            // Str, Bytes, BigInt, Global
  const std::vector<std::uint32_t>& items(std::uint32_t id) const;  // containers (k, v, k, v for Dict)
  double as_float(std::uint32_t id) const;
  const std::vector<StorageRef>& storages() const noexcept { return storages_; }
  const std::vector<TensorSpec>& tensors() const noexcept { return tensors_; }
  const std::string& what() const noexcept { return what_; }

 private:
  [[noreturn]] void error(const std::string& problem) const;
  std::uint32_t add(Kind kind, std::int64_t value = 0, std::uint32_t aux = Node::kNoAux, std::uint8_t sub = 0);
  std::uint32_t add_text(Kind kind, std::string s);
  std::uint32_t add_container(Kind kind, std::vector<std::uint32_t> items);
  std::vector<std::uint32_t>& mutable_items(std::uint32_t id);
  void charge(std::size_t work);

  std::uint32_t pop();
  std::uint32_t& top();
  std::vector<std::uint32_t> pop_mark();

  std::uint32_t make_global(std::string_view module, std::string_view name);
  std::uint32_t call(std::uint32_t callable, std::uint32_t args, bool via_new);
  std::uint32_t rebuild_tensor(const std::vector<std::uint32_t>& args);
  std::uint32_t persistent_load(std::uint32_t pid);
  void build(std::uint32_t target, std::uint32_t state);
  void set_items(std::uint32_t dict, std::vector<std::uint32_t> kv);
  void append_items(std::uint32_t list, std::vector<std::uint32_t> items);
  std::int64_t int_of(std::uint32_t id, const char* what) const;
  std::vector<std::int64_t> int_tuple(std::uint32_t id, const char* what) const;

  const std::string& source_;
  std::string what_;
  const ParseOptions& options_;
  std::size_t op_offset_ = 0;  // offset of the opcode being executed, for messages
  std::size_t work_ = 0;
  std::size_t work_limit_ = 0;

  std::vector<Node> nodes_;
  std::vector<std::string> strings_;
  std::vector<std::vector<std::uint32_t>> seqs_;
  std::vector<StorageRef> storages_;
  std::unordered_map<std::string, std::uint32_t> storage_nodes_;  // key -> Storage node
  std::vector<TensorSpec> tensors_;

  std::vector<std::uint32_t> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, std::uint32_t> memo_;
};

}  // namespace difss::weights::detail
