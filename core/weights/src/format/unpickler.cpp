#include "unpickler.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <utility>

#include "bytes.hpp"

namespace difss::weights::detail {
namespace {

// Opcodes (pickletools names).
enum Op : std::uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F', INT = 'I',
  BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P',
  BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
  EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j',
  LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
  SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G',
  PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85,
  TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
  BINBYTES = 'B', SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97,
  READONLY_BUFFER = 0x98
};

constexpr std::size_t kMaxDims = 64;

// Python 2 str payloads are bytes; decode them as latin-1 into UTF-8 (torch.load's encoding).
std::string latin1_to_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// str.encode('latin1') of a UTF-8 string; false when a code point does not fit in a byte.
bool utf8_to_latin1(std::string_view in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if ((c & 0xE0) == 0xC0 && c <= 0xC3 && i + 1 < in.size()) {
      out->push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(in[++i]) & 0x3F)));
    } else {
      return false;
    }
  }
  return true;
}

bool is_storage_type(std::string_view name, DType* dtype) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"DoubleStorage", DType::F64}, {"FloatStorage", DType::F32},   {"HalfStorage", DType::F16},
      {"BFloat16Storage", DType::BF16}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16},  {"CharStorage", DType::I8},     {"ByteStorage", DType::U8},
      {"BoolStorage", DType::Bool},  {"ComplexFloatStorage", DType::C64},
      {"ComplexDoubleStorage", DType::C128}};
  for (const auto& [n, d] : kTypes) {
    if (name == n) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

// Modules that only ever show up in pickles built to run code. Refused even when unknown
// globals are otherwise allowed as inert placeholders, so that the error says what the file is.
bool is_dangerous_module(std::string_view module) {
  std::string_view root = module.substr(0, module.find('.'));
  static const char* const kDangerous[] = {
      "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "pickle", "_pickle",
      "importlib", "runpy", "pty", "ctypes", "code", "codeop", "webbrowser", "marshal", "types",
      "functools", "operator", "builtins", "__builtin__", "io", "_io", "multiprocessing",
      "threading", "signal", "asyncio", "platform", "commands", "popen2", "tempfile", "urllib",
      "http", "requests", "timeit", "pdb", "bdb", "cProfile", "profile", "trace", "inspect",
      "gc", "weakref", "copyreg", "copy_reg", "_posixsubprocess", "__main__", "ftplib", "smtplib",
      "telnetlib", "glob", "zipimport", "pkgutil", "site", "sysconfig", "distutils", "setuptools"};
  for (const char* d : kDangerous)
    if (root == d) return true;
  return false;
}

}  // namespace

const char* kind_name(Kind k) noexcept {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int (big)";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Set: return "set";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
    case Kind::Object: return "object";
  }
  return "?";
}

Unpickler::Unpickler(const std::string& source, std::string what, const ParseOptions& options)
    : source_(source), what_(std::move(what)), options_(options) {
  add(Kind::None);
  add(Kind::Bool, 0);
  add(Kind::Bool, 1);
}

void Unpickler::error(const std::string& problem) const {
  fail(source_, what_ + " at offset " + std::to_string(op_offset_) + ": " + problem);
}

std::uint32_t Unpickler::add(Kind kind, std::int64_t value, std::uint32_t aux, std::uint8_t sub) {
  if (nodes_.size() >= options_.max_pickle_nodes)
    error("more than " + std::to_string(options_.max_pickle_nodes) +
          " values; refusing (a state dict pickle is far smaller)");
  Node n;
  n.kind = kind;
  n.value = value;
  n.aux = aux;
  n.sub = sub;
  nodes_.push_back(n);
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

std::uint32_t Unpickler::add_text(Kind kind, std::string s) {
  charge(s.size() / 16 + 1);
  strings_.push_back(std::move(s));
  return add(kind, 0, static_cast<std::uint32_t>(strings_.size() - 1));
}

std::uint32_t Unpickler::add_container(Kind kind, std::vector<std::uint32_t> items) {
  std::uint32_t aux = Node::kNoAux;
  if (!items.empty()) {  // empty containers own no sequence until they get items
    seqs_.push_back(std::move(items));
    aux = static_cast<std::uint32_t>(seqs_.size() - 1);
  }
  return add(kind, 0, aux);
}

const std::string& Unpickler::text(std::uint32_t id) const { return strings_[nodes_[id].aux]; }

const std::vector<std::uint32_t>& Unpickler::items(std::uint32_t id) const {
  static const std::vector<std::uint32_t> kEmpty;
  std::uint32_t aux = nodes_[id].aux;
  return aux == Node::kNoAux ? kEmpty : seqs_[aux];
}

std::vector<std::uint32_t>& Unpickler::mutable_items(std::uint32_t id) {
  if (nodes_[id].aux == Node::kNoAux) {
    seqs_.emplace_back();
    nodes_[id].aux = static_cast<std::uint32_t>(seqs_.size() - 1);
  }
  return seqs_[nodes_[id].aux];
}

double Unpickler::as_float(std::uint32_t id) const {
  double d;
  std::memcpy(&d, &nodes_[id].value, sizeof d);
  return d;
}

// Bounds the total copying work (and the memory the copies take) to a few times the pickle's
// size, so that re-using one big memoized value many times (OrderedDict(big_list) a million
// times) can make parsing neither quadratic nor memory-hungry.
void Unpickler::charge(std::size_t work) {
  work_ += work;
  if (work_ > work_limit_) error("too much work (values copied over and over); refusing");
}

std::uint32_t Unpickler::pop() {
  std::size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) error("stack underflow");
  std::uint32_t v = stack_.back();
  stack_.pop_back();
  return v;
}

std::uint32_t& Unpickler::top() {
  std::size_t floor = marks_.empty() ? 0 : marks_.back();
  if (stack_.size() <= floor) error("stack underflow");
  return stack_.back();
}

std::vector<std::uint32_t> Unpickler::pop_mark() {
  if (marks_.empty()) error("no MARK to pop to");
  std::size_t mark = marks_.back();
  marks_.pop_back();
  std::vector<std::uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
  stack_.resize(mark);
  return items;
}

std::int64_t Unpickler::int_of(std::uint32_t id, const char* what) const {
  const Node& n = nodes_[id];
  if (n.kind != Kind::Int && n.kind != Kind::Bool)
    error(std::string(what) + " must be an int, got " + kind_name(n.kind));
  return n.value;
}

std::vector<std::int64_t> Unpickler::int_tuple(std::uint32_t id, const char* what) const {
  Kind k = nodes_[id].kind;
  if (k != Kind::Tuple && k != Kind::List)
    error(std::string(what) + " must be a tuple of ints, got " + kind_name(k));
  const auto& its = items(id);
  if (its.size() > kMaxDims) error(std::string(what) + " has more than 64 dimensions");
  std::vector<std::int64_t> out;
  out.reserve(its.size());
  for (std::uint32_t it : its) {
    std::int64_t v = int_of(it, what);
    if (v < 0) error(std::string(what) + " holds a negative value " + std::to_string(v));
    out.push_back(v);
  }
  return out;
}

std::uint32_t Unpickler::make_global(std::string_view module, std::string_view name) {
  std::string qualified = std::string(module) + "." + std::string(name);
  auto known = [&](GlobalId id, std::int64_t value = 0) {
    std::uint32_t n = add_text(Kind::Global, qualified);
    nodes_[n].sub = static_cast<std::uint8_t>(id);
    nodes_[n].value = value;
    return n;
  };
  DType dtype;
  if (module == "collections" && name == "OrderedDict") return known(GlobalId::OrderedDict);
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return known(GlobalId::RebuildTensorV2);
    if (name == "_rebuild_parameter") return known(GlobalId::RebuildParameter);
    if (name == "_rebuild_parameter_with_state") return known(GlobalId::RebuildParameterWithState);
  }
  if (module == "torch._tensor" && name == "_rebuild_from_type_v2") return known(GlobalId::RebuildFromTypeV2);
  if (module == "torch" && name == "Tensor") return known(GlobalId::TensorClass);
  if (module == "torch.nn.parameter" && name == "Parameter") return known(GlobalId::ParameterClass);
  if ((module == "torch" || module == "torch.cuda") && is_storage_type(name, &dtype))
    return known(GlobalId::StorageType, static_cast<std::int64_t>(dtype));
  if (module == "_codecs" && name == "encode") return known(GlobalId::CodecsEncode);
  if ((module == "builtins" || module == "__builtin__") && name == "set") return known(GlobalId::SetType);
  if ((module == "builtins" || module == "__builtin__") && name == "frozenset") return known(GlobalId::FrozensetType);
  // Inert by nature, found in real Lightning / numpy-touched checkpoints: kept as placeholders.
  if ((name == "ModelCheckpoint" && (module == "pytorch_lightning.callbacks.model_checkpoint" ||
                                     module == "lightning.pytorch.callbacks.model_checkpoint")) ||
      (module == "numpy.core.multiarray" && name == "scalar") || (module == "numpy" && name == "dtype"))
    return known(GlobalId::Inert);
  if (is_dangerous_module(module))
    error("refusing global '" + qualified +
          "': a state dict never needs it (this file may try to run code when loaded with torch.load)");
  if (!options_.allow_inert_globals)
    error("refusing unknown global '" + qualified +
          "': not part of a state dict (set allow_inert_globals to read it as an inert placeholder)");
  return known(GlobalId::Inert);
}

std::uint32_t Unpickler::persistent_load(std::uint32_t pid) {
  if (kind(pid) != Kind::Tuple) error(std::string("persistent id must be a tuple, got ") + kind_name(kind(pid)));
  const std::vector<std::uint32_t> p = items(pid);
  if (p.size() < 5 || kind(p[0]) != Kind::Str || (text(p[0]) != "storage" && text(p[0]) != "Storage"))
    error("persistent id is not ('storage', type, key, location, numel)");
  if (kind(p[1]) != Kind::Global || nodes_[p[1]].sub != static_cast<std::uint8_t>(GlobalId::StorageType))
    error("persistent id names no known storage type");
  if (kind(p[2]) != Kind::Str) error("storage key must be a string");
  if (p.size() >= 6 && p[5] != kNone) error("legacy storage views (view_metadata) are not supported");
  std::int64_t numel = int_of(p[4], "storage size");
  if (numel < 0) error("storage size is negative");
  DType dtype = static_cast<DType>(nodes_[p[1]].value);
  const std::string& key = text(p[2]);
  auto it = storage_nodes_.find(key);
  if (it != storage_nodes_.end()) {
    const StorageRef& ref = storages_[nodes_[it->second].aux];
    if (ref.dtype != dtype || ref.numel != static_cast<std::uint64_t>(numel))
      error("storage '" + key + "' is referenced with two different types or sizes");
    return it->second;
  }
  storages_.push_back({key, dtype, static_cast<std::uint64_t>(numel)});
  std::uint32_t n = add(Kind::Storage, 0, static_cast<std::uint32_t>(storages_.size() - 1));
  storage_nodes_.emplace(key, n);
  return n;
}

std::uint32_t Unpickler::rebuild_tensor(const std::vector<std::uint32_t>& a) {
  if (a.size() < 6 || a.size() > 7) error("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
  if (kind(a[0]) != Kind::Storage) error(std::string("_rebuild_tensor_v2 expects a storage, got ") + kind_name(kind(a[0])));
  std::int64_t offset = int_of(a[1], "storage offset");
  if (offset < 0) error("negative storage offset");
  TensorSpec spec;
  spec.storage = nodes_[a[0]].aux;
  spec.offset = static_cast<std::uint64_t>(offset);
  spec.sizes = int_tuple(a[2], "tensor size");
  spec.strides = int_tuple(a[3], "tensor stride");
  if (spec.sizes.size() != spec.strides.size())
    error("tensor has " + std::to_string(spec.sizes.size()) + " sizes but " +
          std::to_string(spec.strides.size()) + " strides");
  charge(spec.sizes.size() + 1);
  tensors_.push_back(std::move(spec));
  return add(Kind::Tensor, 0, static_cast<std::uint32_t>(tensors_.size() - 1));
}

// REDUCE / NEWOBJ: applies a known global to its arguments, without running any Python.
std::uint32_t Unpickler::call(std::uint32_t callable, std::uint32_t args_id, bool via_new) {
  if (kind(callable) != Kind::Global)
    error(std::string("cannot call a ") + kind_name(kind(callable)));
  if (kind(args_id) != Kind::Tuple && kind(args_id) != Kind::List)
    error(std::string("call arguments must be a tuple, got ") + kind_name(kind(args_id)));
  const std::vector<std::uint32_t> args = items(args_id);
  charge(args.size() + 1);
  const std::string name = text(callable);
  switch (static_cast<GlobalId>(nodes_[callable].sub)) {
    case GlobalId::OrderedDict: {
      std::uint32_t d = add_container(Kind::Dict, {});
      if (!via_new && args.size() == 1) {  // OrderedDict([(k, v), ...])
        Kind ik = kind(args[0]);
        if (ik != Kind::List && ik != Kind::Tuple) error("OrderedDict() argument must be a list of pairs");
        charge(2 * items(args[0]).size());
        std::vector<std::uint32_t> kv;
        for (std::uint32_t pair : items(args[0])) {
          Kind pk = kind(pair);
          if ((pk != Kind::Tuple && pk != Kind::List) || items(pair).size() != 2)
            error("OrderedDict() argument must be a list of pairs");
          kv.push_back(items(pair)[0]);
          kv.push_back(items(pair)[1]);
        }
        set_items(d, std::move(kv));
      } else if (!via_new && !args.empty()) {
        error("OrderedDict() called with unexpected arguments");
      }
      return d;
    }
    case GlobalId::RebuildTensorV2:
      if (via_new) break;
      return rebuild_tensor(args);
    case GlobalId::RebuildParameter:
    case GlobalId::RebuildParameterWithState:
      if (via_new) break;
      if (args.size() < 3 || kind(args[0]) != Kind::Tensor) error(name + " expects (tensor, requires_grad, hooks)");
      return args[0];
    case GlobalId::RebuildFromTypeV2: {
      if (via_new) break;
      // (func, new_type, args, state): only plain tensors / parameters are rebuilt.
      if (args.size() != 4 || kind(args[0]) != Kind::Global || kind(args[1]) != Kind::Global)
        error("_rebuild_from_type_v2 expects (func, type, args, state)");
      auto type = static_cast<GlobalId>(nodes_[args[1]].sub);
      auto func = static_cast<GlobalId>(nodes_[args[0]].sub);
      if (type != GlobalId::TensorClass && type != GlobalId::ParameterClass)
        error("_rebuild_from_type_v2 of type '" + text(args[1]) + "' (a tensor subclass) is not supported");
      if (func == GlobalId::RebuildFromTypeV2) error("nested _rebuild_from_type_v2");
      return call(args[0], args[2], false);
    }
    case GlobalId::CodecsEncode: {  // protocol-2 spelling of bytes: _codecs.encode(str, 'latin1')
      if (via_new) break;
      if (args.size() != 2 || kind(args[0]) != Kind::Str || kind(args[1]) != Kind::Str)
        error("_codecs.encode expects (str, encoding)");
      const std::string& enc = text(args[1]);
      if (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1")
        error("_codecs.encode with encoding '" + enc + "' is not supported");
      std::string bytes;
      charge(text(args[0]).size() / 16);
      if (!utf8_to_latin1(text(args[0]), &bytes)) error("_codecs.encode: text is not latin-1");
      return add_text(Kind::Bytes, std::move(bytes));
    }
    case GlobalId::SetType:
    case GlobalId::FrozensetType: {
      std::uint32_t s = add_container(Kind::Set, {});
      if (!via_new && args.size() == 1) {
        Kind ik = kind(args[0]);
        if (ik != Kind::List && ik != Kind::Tuple && ik != Kind::Set) error("set() argument must be a list");
        std::vector<std::uint32_t> copy = items(args[0]);
        charge(copy.size());
        append_items(s, std::move(copy));
      } else if (!via_new && !args.empty()) {
        error("set() called with unexpected arguments");
      }
      return s;
    }
    case GlobalId::Inert: {  // placeholder object: remembers its class and arguments only
      std::uint32_t o = add_container(Kind::Object, {callable, args_id});
      return o;
    }
    case GlobalId::TensorClass:
    case GlobalId::ParameterClass:
    case GlobalId::StorageType:
      break;
  }
  error("refusing to call '" + name + (via_new ? "' through NEWOBJ" : "' through REDUCE"));
}

void Unpickler::build(std::uint32_t target, std::uint32_t state) {
  switch (kind(target)) {
    case Kind::Dict:    // OrderedDict's __dict__ (state_dict()._metadata): not needed
    case Kind::Tensor:  // Python-side tensor attributes: not needed
    case Kind::Set:
      return;
    case Kind::Object:
      mutable_items(target).push_back(state);
      return;
    default:
      error(std::string("BUILD on a ") + kind_name(kind(target)) + " is not supported");
  }
}

void Unpickler::set_items(std::uint32_t dict, std::vector<std::uint32_t> kv) {
  if (kind(dict) != Kind::Dict) error(std::string("SETITEM on a ") + kind_name(kind(dict)));
  if (kv.size() % 2 != 0) error("SETITEMS with an odd number of values");
  auto& dst = mutable_items(dict);
  // Duplicate keys are resolved by readers (last value wins), keeping insertion cheap.
  dst.insert(dst.end(), kv.begin(), kv.end());
}

void Unpickler::append_items(std::uint32_t list, std::vector<std::uint32_t> values) {
  Kind k = kind(list);
  if (k != Kind::List && k != Kind::Set) error(std::string("APPEND on a ") + kind_name(k));
  auto& dst = mutable_items(list);
  dst.insert(dst.end(), values.begin(), values.end());
}

std::uint32_t Unpickler::run(const std::uint8_t* data, std::size_t size, std::size_t* consumed) {
  Cursor in(data, size, source_, what_.c_str());
  work_limit_ = work_ + 4 * size + (std::size_t{1} << 20);
  stack_.clear();
  marks_.clear();
  memo_.clear();
  auto memo_get = [&](std::uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) error("memo key " + std::to_string(key) + " is not defined");
    stack_.push_back(it->second);
  };
  auto memo_put = [&](std::uint64_t key) { memo_[key] = top(); };
  auto tuple_of = [&](std::size_t n) {
    std::vector<std::uint32_t> its(n);
    for (std::size_t i = n; i-- > 0;) its[i] = pop();
    stack_.push_back(add_container(Kind::Tuple, std::move(its)));
  };
  auto parse_int_text = [&](std::string_view s) -> std::int64_t {
    if (!s.empty() && s.back() == 'L') s.remove_suffix(1);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) error("bad integer literal");
    return v;
  };

  for (;;) {
    if (in.at_end()) error("pickle ends without a STOP opcode (truncated?)");
    op_offset_ = in.pos();
    std::uint8_t op = in.u8();
    switch (op) {
      case PROTO: {
        std::uint8_t v = in.u8();
        if (v > 5) error("unsupported pickle protocol " + std::to_string(v));
        break;
      }
      case FRAME: {
        std::uint64_t n = in.le(8);
        if (n > in.remaining()) error("FRAME of " + std::to_string(n) + " bytes overruns the pickle");
        break;
      }
      case STOP: {
        std::uint32_t root = pop();
        *consumed = in.pos();
        return root;
      }
      case MARK: marks_.push_back(stack_.size()); break;
      case POP:
        if (stack_.size() > (marks_.empty() ? 0 : marks_.back())) stack_.pop_back();
        else pop_mark();
        break;
      case POP_MARK: pop_mark(); break;
      case DUP: { std::uint32_t t = top(); stack_.push_back(t); break; }
      case NONE: stack_.push_back(kNone); break;
      case NEWTRUE: stack_.push_back(kTrue); break;
      case NEWFALSE: stack_.push_back(kFalse); break;
      case INT: {
        std::string_view s = in.line();
        if (s == "00") stack_.push_back(kFalse);
        else if (s == "01") stack_.push_back(kTrue);
        else stack_.push_back(add(Kind::Int, parse_int_text(s)));
        break;
      }
      case LONG: stack_.push_back(add(Kind::Int, parse_int_text(in.line()))); break;
      case BININT: stack_.push_back(add(Kind::Int, static_cast<std::int32_t>(in.le(4)))); break;
      case BININT1: stack_.push_back(add(Kind::Int, in.u8())); break;
      case BININT2: stack_.push_back(add(Kind::Int, static_cast<std::int64_t>(in.le(2)))); break;
      case LONG1:
      case LONG4: {
        std::uint64_t n = op == LONG1 ? in.u8() : in.le(4);
        if (op == LONG4 && n > 0x7FFFFFFFu) error("negative LONG4 length");
        const std::uint8_t* p = in.take(n);
        if (n <= 8) {  // two's complement, little-endian
          std::uint64_t v = n ? load_le(p, static_cast<int>(n)) : 0;
          if (n && n < 8 && (p[n - 1] & 0x80)) v |= ~std::uint64_t{0} << (8 * n);
          stack_.push_back(add(Kind::Int, static_cast<std::int64_t>(v)));
        } else {
          stack_.push_back(add_text(Kind::BigInt, std::string(reinterpret_cast<const char*>(p), n)));
        }
        break;
      }
      case FLOAT: {
        std::string_view s = in.line();
        double d = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec != std::errc() || p != s.data() + s.size()) error("bad float literal");
        std::int64_t bits;
        std::memcpy(&bits, &d, sizeof d);
        stack_.push_back(add(Kind::Float, bits));
        break;
      }
      case BINFLOAT: {  // big-endian IEEE double
        const std::uint8_t* p = in.take(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        stack_.push_back(add(Kind::Float, static_cast<std::int64_t>(bits)));
        break;
      }
      case BINUNICODE: stack_.push_back(add_text(Kind::Str, std::string(in.take_view(in.le(4))))); break;
      case SHORT_BINUNICODE: stack_.push_back(add_text(Kind::Str, std::string(in.take_view(in.u8())))); break;
      case BINUNICODE8: stack_.push_back(add_text(Kind::Str, std::string(in.take_view(in.le(8))))); break;
      case BINSTRING: {
        std::uint64_t n = in.le(4);
        if (n > 0x7FFFFFFFu) error("negative BINSTRING length");
        stack_.push_back(add_text(Kind::Str, latin1_to_utf8(in.take_view(n))));
        break;
      }
      case SHORT_BINSTRING: stack_.push_back(add_text(Kind::Str, latin1_to_utf8(in.take_view(in.u8())))); break;
      case BINBYTES: stack_.push_back(add_text(Kind::Bytes, std::string(in.take_view(in.le(4))))); break;
      case SHORT_BINBYTES: stack_.push_back(add_text(Kind::Bytes, std::string(in.take_view(in.u8())))); break;
      case BINBYTES8:
      case BYTEARRAY8: stack_.push_back(add_text(Kind::Bytes, std::string(in.take_view(in.le(8))))); break;
      case EMPTY_DICT: stack_.push_back(add_container(Kind::Dict, {})); break;
      case EMPTY_LIST: stack_.push_back(add_container(Kind::List, {})); break;
      case EMPTY_TUPLE: stack_.push_back(add_container(Kind::Tuple, {})); break;
      case EMPTY_SET: stack_.push_back(add_container(Kind::Set, {})); break;
      case TUPLE: stack_.push_back(add_container(Kind::Tuple, pop_mark())); break;
      case TUPLE1: tuple_of(1); break;
      case TUPLE2: tuple_of(2); break;
      case TUPLE3: tuple_of(3); break;
      case LIST: stack_.push_back(add_container(Kind::List, pop_mark())); break;
      case FROZENSET: stack_.push_back(add_container(Kind::Set, pop_mark())); break;
      case DICT: {
        std::vector<std::uint32_t> kv = pop_mark();
        std::uint32_t d = add_container(Kind::Dict, {});
        set_items(d, std::move(kv));
        stack_.push_back(d);
        break;
      }
      case APPEND: { std::uint32_t v = pop(); append_items(top(), {v}); break; }
      case APPENDS: { std::vector<std::uint32_t> vs = pop_mark(); append_items(top(), std::move(vs)); break; }
      case ADDITEMS: {
        std::vector<std::uint32_t> vs = pop_mark();
        if (kind(top()) != Kind::Set) error("ADDITEMS on a non-set");
        append_items(top(), std::move(vs));
        break;
      }
      case SETITEM: {
        std::uint32_t v = pop();
        std::uint32_t k = pop();
        set_items(top(), {k, v});
        break;
      }
      case SETITEMS: { std::vector<std::uint32_t> kv = pop_mark(); set_items(top(), std::move(kv)); break; }
      case GET: memo_get(static_cast<std::uint64_t>(parse_int_text(in.line()))); break;
      case BINGET: memo_get(in.u8()); break;
      case LONG_BINGET: memo_get(in.le(4)); break;
      case PUT: memo_put(static_cast<std::uint64_t>(parse_int_text(in.line()))); break;
      case BINPUT: memo_put(in.u8()); break;
      case LONG_BINPUT: memo_put(in.le(4)); break;
      case MEMOIZE: memo_put(memo_.size()); break;
      case GLOBAL: {
        std::string_view module = in.line();
        std::string_view name = in.line();
        stack_.push_back(make_global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        std::uint32_t name = pop();
        std::uint32_t module = pop();
        if (kind(name) != Kind::Str || kind(module) != Kind::Str) error("STACK_GLOBAL needs two strings");
        std::string m = text(module), n = text(name);
        stack_.push_back(make_global(m, n));
        break;
      }
      case REDUCE: {
        std::uint32_t args = pop();
        std::uint32_t callable = pop();
        stack_.push_back(call(callable, args, false));
        break;
      }
      case NEWOBJ: {
        std::uint32_t args = pop();
        std::uint32_t cls = pop();
        stack_.push_back(call(cls, args, true));
        break;
      }
      case NEWOBJ_EX: {
        pop();  // kwargs
        std::uint32_t args = pop();
        std::uint32_t cls = pop();
        stack_.push_back(call(cls, args, true));
        break;
      }
      case BUILD: {
        std::uint32_t state = pop();
        build(top(), state);
        break;
      }
      case BINPERSID: { std::uint32_t pid = pop(); stack_.push_back(persistent_load(pid)); break; }
      case PERSID: error("text persistent ids (PERSID) are not used by torch.save");
      case INST: case OBJ: case EXT1: case EXT2: case EXT4: case STRING: case UNICODE:
      case NEXT_BUFFER: case READONLY_BUFFER: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%02x", op);
        error(std::string("pickle opcode ") + buf + " is not allowed in a state dict");
      }
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%02x", op);
        error(std::string("unknown pickle opcode ") + buf);
      }
    }
  }
}

}  // namespace difss::weights::detail
