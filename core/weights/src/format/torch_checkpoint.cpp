// torch.save files -> CheckpointIndex: the zip layout (torch >= 1.6, Lightning .ckpt) and the
// legacy stream layout (magic, protocol, sys_info, main pickle, storage keys, raw storages).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <unordered_map>

#include "bytes.hpp"
#include "parsers.hpp"
#include "unpickler.hpp"
#include "zip_reader.hpp"

namespace difss::weights::detail {
namespace {

// Where each unpickler storage's bytes are in the input (filled per format).
struct StorageLocation {
  std::uint64_t offset = 0;
  std::uint64_t nbytes = 0;
  bool found = false;
};

class Flattener {
 public:
  Flattener(const Unpickler& u, const ParseOptions& o, const std::string& source)
      : u_(u), o_(o), source_(source) {}

  std::uint32_t resolve_entry(std::uint32_t root, std::string* path) {
    if (o_.entry.empty()) return root;
    if (o_.entry == "auto") return auto_entry(root, path);
    std::uint32_t cur = root;
    std::size_t start = 0;
    while (start <= o_.entry.size()) {
      std::size_t dot = o_.entry.find('.', start);
      if (dot == std::string::npos) dot = o_.entry.size();
      std::string key = o_.entry.substr(start, dot - start);
      std::uint32_t next = u_.kind(cur) == Kind::Dict ? dict_get(cur, key) : kMissing;
      if (next == kMissing)
        fail(source_, "entry '" + o_.entry + "' not found (no key '" + key + "'; " + describe_keys(cur) + ")");
      cur = next;
      start = dot + 1;
    }
    *path = o_.entry;
    return cur;
  }

  // Collects the tensors under `entry` with names relative to it.
  void collect_tensors(std::uint32_t id, const std::string& path, std::size_t depth) {
    visit(depth, true);
    switch (u_.kind(id)) {
      case Kind::Tensor: {
        auto it = by_name_.find(path);
        if (it != by_name_.end()) {
          tensors_[it->second].second = u_.node(id).aux;  // a repeated key: the last value wins
        } else {
          by_name_.emplace(path, tensors_.size());
          tensors_.emplace_back(path, u_.node(id).aux);
        }
        return;
      }
      case Kind::Dict: {
        const auto& kv = u_.items(id);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
          if (may_hold_tensor(kv[i + 1])) collect_tensors(kv[i + 1], join(path, key_text(kv[i])), depth + 1);
          else visit(depth + 1, true);
        }
        return;
      }
      case Kind::List:
      case Kind::Tuple:
      case Kind::Set: {
        const auto& its = u_.items(id);
        for (std::size_t i = 0; i < its.size(); ++i) {
          if (may_hold_tensor(its[i])) collect_tensors(its[i], join(path, std::to_string(i)), depth + 1);
          else visit(depth + 1, true);
        }
        return;
      }
      default:
        return;
    }
  }

  // Only tensors and containers need a name built (saves string work on big scalar lists).
  bool may_hold_tensor(std::uint32_t id) const {
    switch (u_.kind(id)) {
      case Kind::Tensor: case Kind::Dict: case Kind::List: case Kind::Tuple: case Kind::Set: return true;
      default: return false;
    }
  }

  // Collects non-tensor values everywhere and counts tensors outside `entry`.
  void collect_extras(std::uint32_t id, const std::string& path, std::size_t depth, bool in_entry,
                      std::uint32_t entry) {
    if (id == entry) in_entry = true;
    if (depth > o_.max_nesting) return;  // best effort: extras of a cyclic structure stop here
    visit(0, false);
    const Node& n = u_.node(id);
    switch (n.kind) {
      case Kind::None: add_extra(path, std::monostate{}); return;
      case Kind::Bool: add_extra(path, n.value != 0); return;
      case Kind::Int: add_extra(path, n.value); return;
      case Kind::Float: add_extra(path, u_.as_float(id)); return;
      case Kind::Str: add_extra(path, u_.text(id)); return;
      case Kind::Tensor: if (!in_entry) ++skipped_; return;
      case Kind::Dict: {
        const auto& kv = u_.items(id);
        for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
          collect_extras(kv[i + 1], join(path, key_text(kv[i])), depth + 1, in_entry, entry);
        return;
      }
      case Kind::List:
      case Kind::Tuple:
      case Kind::Set: {
        const auto& its = u_.items(id);
        for (std::size_t i = 0; i < its.size(); ++i)
          collect_extras(its[i], join(path, std::to_string(i)), depth + 1, in_entry, entry);
        return;
      }
      default:
        return;
    }
  }

  std::vector<std::pair<std::string, std::uint32_t>>& tensors() { return tensors_; }
  std::vector<std::pair<std::string, Scalar>>& extras() { return extras_; }
  std::size_t skipped() const { return skipped_; }

 private:
  static constexpr std::uint32_t kMissing = 0xFFFFFFFFu;
  static constexpr std::size_t kProbeBudget = 1u << 20;
  static constexpr std::size_t kMaxExtras = 1u << 16;

  void visit(std::size_t depth, bool strict) {
    if (++visits_ > o_.max_visits)
      fail(source_, "pickle expands to more than " + std::to_string(o_.max_visits) +
                        " values when flattened (shared sub-structures multiplying: a recursion bomb?)");
    if (strict && depth > o_.max_nesting)
      fail(source_, "tensors nested deeper than " + std::to_string(o_.max_nesting) + " levels (a cycle?)");
  }

  void add_extra(const std::string& path, Scalar v) {
    if (extras_.size() >= kMaxExtras) return;  // informational only: keep the first ones
    auto it = extra_by_name_.find(path);
    if (it != extra_by_name_.end()) {
      extras_[it->second].second = std::move(v);
      return;
    }
    extra_by_name_.emplace(path, extras_.size());
    extras_.emplace_back(path, std::move(v));
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::string key_text(std::uint32_t k) const {
    const Node& n = u_.node(k);
    switch (n.kind) {
      case Kind::Str: case Kind::Bytes: case Kind::Global: return u_.text(k);
      case Kind::Int: return std::to_string(n.value);
      case Kind::Bool: return n.value ? "True" : "False";
      case Kind::None: return "None";
      case Kind::Float: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", u_.as_float(k));
        return buf;
      }
      default: return std::string("<") + kind_name(n.kind) + ">";
    }
  }

  std::uint32_t dict_get(std::uint32_t dict, const std::string& key) const {
    const auto& kv = u_.items(dict);
    std::uint32_t found = kMissing;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
      if (u_.kind(kv[i]) == Kind::Str && u_.text(kv[i]) == key) found = kv[i + 1];
    return found;
  }

  std::string describe_keys(std::uint32_t id) const {
    if (u_.kind(id) != Kind::Dict) return std::string("the value there is a ") + kind_name(u_.kind(id));
    std::string s = "keys there:";
    const auto& kv = u_.items(id);
    for (std::size_t i = 0; i + 1 < kv.size() && i < 40; i += 2) s += " '" + key_text(kv[i]) + "'";
    if (kv.size() > 40) s += " ...";
    return s;
  }

  bool has_direct_tensor(std::uint32_t dict) const {
    const auto& kv = u_.items(dict);
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
      if (u_.kind(kv[i + 1]) == Kind::Tensor) return true;
    return false;
  }

  // Whether a tensor sits within a few dict levels; bounded work (shared sub-dicts repeat).
  bool holds_tensor(std::uint32_t id, int depth) {
    if (u_.kind(id) == Kind::Tensor) return true;
    if (u_.kind(id) != Kind::Dict || depth > 3) return false;
    const auto& kv = u_.items(id);
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (++probe_budget_used_ > kProbeBudget) return false;
      if (holds_tensor(kv[i + 1], depth + 1)) return true;
    }
    return false;
  }

  std::uint32_t auto_entry(std::uint32_t root, std::string* path) {
    static const char* const kWrappers[] = {"state_dict", "model_state_dict", "model", "module", "net", "state"};
    std::uint32_t cur = root;
    for (int level = 0; level < 4; ++level) {
      if (u_.kind(cur) != Kind::Dict || has_direct_tensor(cur)) break;
      std::uint32_t next = kMissing;
      const char* chosen = nullptr;
      for (const char* w : kWrappers) {
        std::uint32_t v = dict_get(cur, w);
        if (v != kMissing && u_.kind(v) == Kind::Dict && holds_tensor(v, 0)) {
          next = v;
          chosen = w;
          break;
        }
      }
      if (next == kMissing) break;
      *path = path->empty() ? chosen : *path + "." + chosen;
      cur = next;
    }
    return cur;
  }

  const Unpickler& u_;
  const ParseOptions& o_;
  const std::string& source_;
  std::size_t visits_ = 0;
  std::size_t probe_budget_used_ = 0;
  std::size_t skipped_ = 0;
  std::vector<std::pair<std::string, std::uint32_t>> tensors_;  // name -> TensorSpec index
  std::unordered_map<std::string, std::size_t> by_name_;
  std::vector<std::pair<std::string, Scalar>> extras_;
  std::unordered_map<std::string, std::size_t> extra_by_name_;
};

// Shared tail of both torch layouts: flatten the pickle, keep the storages the tensors use,
// validate every view.
CheckpointIndex build_index(Format format, const Unpickler& u, std::uint32_t root,
                            const std::function<StorageLocation(std::size_t)>& locate, std::uint64_t input_size,
                            const std::string& source, const ParseOptions& options) {
  CheckpointIndex index;
  index.format = format;
  Flattener flat(u, options, source);
  std::uint32_t entry = flat.resolve_entry(root, &index.entry);
  flat.collect_tensors(entry, "", 0);
  flat.collect_extras(root, "", 0, false, entry);
  index.extras = std::move(flat.extras());
  index.skipped_tensors = flat.skipped();

  std::unordered_map<std::uint32_t, std::size_t> storage_index;  // unpickler storage -> index
  for (auto& [name, spec_id] : flat.tensors()) {
    if (options.filter && !options.filter(name)) continue;
    const TensorSpec& spec = u.tensors()[spec_id];
    const StorageRef& ref = u.storages()[spec.storage];
    auto it = storage_index.find(spec.storage);
    if (it == storage_index.end()) {
      const StorageLocation loc = locate(spec.storage);
      if (!loc.found) fail(source, "storage '" + ref.key + "' of tensor '" + name + "' is missing from the file");
      std::uint64_t nbytes;
      if (mul_overflows(ref.numel, dtype_size(ref.dtype), &nbytes) || nbytes != loc.nbytes)
        fail(source, "storage '" + ref.key + "' holds " + std::to_string(loc.nbytes) + " bytes but its header says " +
                         std::to_string(ref.numel) + " elements of " + dtype_name(ref.dtype));
      index.storages.push_back({ref.key, ref.dtype, ref.numel, loc.offset});
      it = storage_index.emplace(spec.storage, index.storages.size() - 1).first;
    }
    TensorRecord t;
    t.name = name;
    t.storage = it->second;
    t.dtype = ref.dtype;
    t.storage_offset = spec.offset;
    t.sizes = spec.sizes;
    t.strides = spec.strides;
    validate_view(t, index.storages[t.storage], input_size, source);
    index.tensors.push_back(std::move(t));
  }
  return index;
}

// Finds the "<prefix>/" that torch.save put in front of every entry (the archive name: the file
// stem or "archive", depending on the torch version), as PyTorchStreamReader does.
std::string find_prefix(const ZipArchive& zip, const std::string& source) {
  if (!zip.entries().empty()) {
    const std::string& first = zip.entries().front().name;
    std::size_t slash = first.find('/');
    if (slash != std::string::npos && zip.find(first.substr(0, slash + 1) + "data.pkl"))
      return first.substr(0, slash + 1);
  }
  for (const ZipEntry& e : zip.entries()) {
    std::size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash + 1, std::string::npos, "data.pkl") == 0)
      return e.name.substr(0, slash + 1);
  }
  if (zip.find("data.pkl")) return "";
  fail(source, "zip archive has no '<name>/data.pkl': not a torch.save checkpoint");
}

}  // namespace

void validate_view(const TensorRecord& t, const StorageRecord& s, std::uint64_t input_size,
                   const std::string& source) {
  auto bad = [&](const std::string& what) { fail(source, "tensor '" + t.name + "': " + what); };
  if (t.sizes.size() != t.strides.size()) bad("sizes and strides differ in length");
  std::uint64_t numel = 1;
  for (std::int64_t d : t.sizes) {
    if (d < 0) bad("negative size");
    if (mul_overflows(numel, static_cast<std::uint64_t>(d), &numel) || numel > (std::uint64_t{1} << 62))
      bad("element count overflows");
  }
  if (numel == 0) {
    if (t.storage_offset > s.numel) bad("storage offset past the end of its storage");
    return;
  }
  std::uint64_t last = t.storage_offset;  // index of the last element the view touches
  for (std::size_t i = 0; i < t.sizes.size(); ++i) {
    if (t.strides[i] < 0) bad("negative stride");
    std::uint64_t step;
    if (mul_overflows(static_cast<std::uint64_t>(t.sizes[i] - 1), static_cast<std::uint64_t>(t.strides[i]), &step) ||
        add_overflows(last, step, &last))
      bad("view extent overflows");
  }
  if (last >= s.numel)
    bad("view (offset " + std::to_string(t.storage_offset) + ", last element " + std::to_string(last) +
        ") lies outside its storage of " + std::to_string(s.numel) + " elements");
  // A stride-0 view may describe far more elements than the file holds; copying it densely
  // later would allocate that much. Refuse absurd expansions.
  std::uint64_t dense = numel * dtype_size(t.dtype);
  if (numel > (std::uint64_t{1} << 58) || dense > 16 * input_size + (std::uint64_t{1} << 20))
    bad("expands to " + std::to_string(dense) + " bytes from a " + std::to_string(input_size) +
        "-byte file (stride-0 view); refusing");
}

CheckpointIndex parse_torch_zip(const std::uint8_t* data, std::size_t size, const std::string& source,
                                const ParseOptions& options) {
  ZipArchive zip(data, size, source);
  std::string prefix = find_prefix(zip, source);
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    ZipRecord r = zip.record(*order);
    std::string_view v(reinterpret_cast<const char*>(data + r.offset), static_cast<std::size_t>(r.size));
    if (v != "little") fail(source, "checkpoint byte order is '" + std::string(v.substr(0, 16)) + "'; only little-endian is supported");
  }
  ZipRecord pkl = zip.record(prefix + "data.pkl");
  Unpickler u(source, prefix + "data.pkl", options);
  std::uint32_t root = 0;
  std::size_t consumed = 0;
  try {
    root = u.run(data + pkl.offset, static_cast<std::size_t>(pkl.size), &consumed);
  } catch (const WeightError& e) {
    if (zip.find(prefix + "constants.pkl"))
      throw WeightError(source, e.problem() + " (this is a TorchScript archive: load it with torch::jit::load)");
    throw;
  }
  // Located only for the storages the indexed tensors use: a broken optimizer-state record of a
  // Lightning checkpoint does not stop its state_dict from loading.
  auto locate = [&](std::size_t i) -> StorageLocation {
    const ZipEntry* entry = zip.find(prefix + "data/" + u.storages()[i].key);
    if (!entry) return {};
    ZipRecord r = zip.record(*entry);
    return {r.offset, r.size, true};
  };
  return build_index(Format::TorchZip, u, root, locate, size, source, options);
}

CheckpointIndex parse_torch_legacy(const std::uint8_t* data, std::size_t size, const std::string& source,
                                   const ParseOptions& options) {
  // Magic number 0x1950a86a20f9469cfc6c as pickled by torch.serialization (LONG1, 10 bytes).
  static const std::uint8_t kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  Unpickler u(source, "legacy pickle", options);
  std::size_t pos = 0, consumed = 0;
  std::uint32_t magic = u.run(data, size, &consumed);
  pos += consumed;
  if (u.kind(magic) != Kind::BigInt || u.text(magic).size() != sizeof kMagic ||
      std::memcmp(u.text(magic).data(), kMagic, sizeof kMagic) != 0)
    fail(source, "not a torch checkpoint (a pickle without torch.save's magic number)");
  std::uint32_t version = u.run(data + pos, size - pos, &consumed);
  pos += consumed;
  if (u.kind(version) != Kind::Int || u.node(version).value != 1001)
    fail(source, "unsupported legacy torch.save protocol version");
  std::uint32_t sys_info = u.run(data + pos, size - pos, &consumed);
  pos += consumed;
  if (u.kind(sys_info) == Kind::Dict) {
    const auto& kv = u.items(sys_info);
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
      if (u.kind(kv[i]) == Kind::Str && u.text(kv[i]) == "little_endian" && kv[i + 1] != Unpickler::kTrue)
        fail(source, "checkpoint was written on a big-endian machine; not supported");
  }
  std::uint32_t root = u.run(data + pos, size - pos, &consumed);
  pos += consumed;
  std::uint32_t keys = u.run(data + pos, size - pos, &consumed);
  pos += consumed;
  if (u.kind(keys) != Kind::List) fail(source, "legacy checkpoint: storage key list missing");

  // Storages follow in key order, each as int64 element count + raw little-endian data.
  std::unordered_map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < u.storages().size(); ++i) by_key.emplace(u.storages()[i].key, i);
  std::vector<StorageLocation> where(u.storages().size());
  Cursor in(data + pos, size - pos, source, "legacy storage data");
  for (std::uint32_t k : u.items(keys)) {
    if (u.kind(k) != Kind::Str) fail(source, "legacy checkpoint: storage key is not a string");
    auto it = by_key.find(u.text(k));
    if (it == by_key.end()) fail(source, "legacy checkpoint lists storage '" + u.text(k) + "' that nothing references");
    const StorageRef& ref = u.storages()[it->second];
    std::uint64_t numel = in.le(8);
    std::uint64_t nbytes;
    if (numel != ref.numel || mul_overflows(numel, dtype_size(ref.dtype), &nbytes))
      fail(source, "legacy storage '" + ref.key + "' has " + std::to_string(numel) + " elements, expected " +
                       std::to_string(ref.numel));
    std::uint64_t offset = pos + in.pos();
    in.take(nbytes);
    where[it->second] = {offset, nbytes, true};
  }
  return build_index(Format::TorchLegacy, u, root, [&](std::size_t i) { return where[i]; }, size, source, options);
}

}  // namespace difss::weights::detail
