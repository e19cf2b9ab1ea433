// Hostile and broken inputs: every one must raise WeightError naming the file and the problem —
// no crash, no huge allocation, no code execution.
#include "catch_torch.hpp"

#include <ATen/ATen.h>

#include <filesystem>

#include "builders.hpp"
#include "difss/weights/weights.hpp"

namespace fs = std::filesystem;
using namespace difss::weights;
using namespace difss::weights::test;

namespace {

fs::path data(const char* name) { return fs::path(DIFSS_WEIGHTS_TEST_DATA) / name; }

StateDict from(const Bytes& b, const LoadOptions& options = {}) {
  return load_from_memory(b.data(), b.size(), "crafted.pth", options);
}

// Expects WeightError whose message names the input and contains `needle`.
#define REQUIRE_REFUSED(bytes, needle) \
  CHECK_THROWS_WITH(from(bytes), Catch::Contains("crafted.pth") && Catch::Contains(needle))

Bytes legacy_with(const Bytes& pickle, std::uint64_t numel = 4) {
  return legacy_file(pickle, {{"0", numel, floats(std::vector<float>(numel, 1.0f))}});
}

}  // namespace

TEST_CASE("malicious pickles (GLOBAL posix.system) are refused and never run", "[weights][hostile]") {
  fs::remove("/tmp/difss_fixture_pwned");
  for (const char* file : {"malicious_os_system.pth", "malicious_os_system_legacy.pth"}) {
    CHECK_THROWS_WITH(load(data(file)), Catch::Contains(file) && Catch::Contains("refusing global 'posix.system'"));
    LoadOptions inert;  // placeholders are allowed for unknown globals, never for os / posix
    inert.allow_inert_globals = true;
    CHECK_THROWS_WITH(load(data(file), inert), Catch::Contains("posix.system"));
    CHECK_THROWS_AS(inspect(data(file)), WeightError);
  }
  CHECK_FALSE(fs::exists("/tmp/difss_fixture_pwned"));
  for (auto [module, name] : {std::pair{"builtins", "eval"}, {"subprocess", "Popen"}, {"__builtin__", "getattr"},
                              {"torch", "load"}, {"numpy", "load"}}) {
    Pickle p;
    p.proto().global(module, name).mark().str("x").tuple().reduce().stop();
    INFO(module << "." << name);
    REQUIRE_REFUSED(legacy_with(p.b), std::string(module) + "." + name);
  }
}

TEST_CASE("every truncation of every fixture is a WeightError", "[weights][hostile]") {
  for (const char* file : {"basic.pth", "views.pth", "views_legacy.pth", "nested.pth", "lightning.ckpt",
                           "params_protocol4.pth", "tiny.safetensors"}) {
    const Bytes full = read_file(data(file));
    REQUIRE(full.size() > 100);
    std::size_t refused = 0;
    for (std::size_t n = 0; n < full.size(); ++n) {
      try {
        load_from_memory(full.data(), n, file);
      } catch (const WeightError& e) {
        ++refused;
        if (std::string(e.what()).find(file) == std::string::npos) FAIL("message does not name the file: " << e.what());
      }
    }
    INFO(file);
    CHECK(refused == full.size());
  }
}

TEST_CASE("missing, empty, directory and unknown files", "[weights][hostile]") {
  CHECK_THROWS_WITH(load("/nonexistent/dir/w.pth"), Catch::Contains("/nonexistent/dir/w.pth") && Catch::Contains("not found"));
  CHECK_THROWS_WITH(load(fs::path(DIFSS_WEIGHTS_TEST_DATA)), Catch::Contains("directory"));
  fs::path empty = fs::temp_directory_path() / "difss_weights_empty.pth";
  write_file(empty, "");
  CHECK_THROWS_WITH(load(empty), Catch::Contains("empty"));
  write_file(empty, "just some text, not a checkpoint");
  CHECK_THROWS_WITH(load(empty), Catch::Contains("unrecognised checkpoint format"));
  fs::remove(empty);
  CHECK_THROWS_WITH(load_from_memory("\x80\x02K\x01.", 5, "plain.pkl"), Catch::Contains("magic number"));
}

TEST_CASE("crafted pickles: opcodes, memo, stack, recursion", "[weights][hostile]") {
  SECTION("a well-formed crafted file loads (the builders are right)") {
    StateDict sd = from(legacy_with(one_tensor_pickle(4, 1, {3}, {1})));
    CHECK(sd.at("w").sizes() == at::IntArrayRef({3}));
    CHECK(sd.at("w").storage_offset() == 1);
    sd = from(torch_zip(one_tensor_pickle(4, 0, {2, 2}, {2, 1}), {{"0", floats({1, 2, 3, 4})}}, "weird-name"));
    CHECK(sd.at("w").sum().item<float>() == 10.0f);
  }
  SECTION("unknown and disallowed opcodes") {
    REQUIRE_REFUSED(legacy_with(Pickle().proto().op('\xff').stop().b), "unknown pickle opcode 0xff");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().op('i').raw("os\nsystem\n").stop().b), "0x69");   // INST
    REQUIRE_REFUSED(legacy_with(Pickle().proto().op('\x82').op('\x01').stop().b), "0x82");        // EXT1
    REQUIRE_REFUSED(legacy_with(Pickle().proto().op('P').raw("x\n").stop().b), "PERSID");
    REQUIRE_REFUSED(legacy_with(Pickle().proto(9).none().stop().b), "protocol 9");
  }
  SECTION("stack and memo abuse") {
    REQUIRE_REFUSED(legacy_with(Pickle().proto().stop().b), "stack underflow");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().reduce().stop().b), "stack underflow");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().binget(7).stop().b), "memo key 7 is not defined");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().mark().op('t').op('t').stop().b), "no MARK");
    // a huge memo index is just a key, not an allocation
    Pickle p;
    p.proto().none().op('r').raw("\xff\xff\xff\xff").op('j').raw("\xff\xff\xff\xff").stop();
    REQUIRE_REFUSED(legacy_with(p.b), "that nothing references");  // parsed fine; the root is None
    // SETITEM on a list, APPEND on a dict
    REQUIRE_REFUSED(legacy_with(Pickle().proto().empty_list().none().none().setitem().stop().b), "SETITEM on a list");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().empty_dict().none().append().stop().b), "APPEND on a dict");
  }
  SECTION("absurd lengths are checked against the input before allocating") {
    REQUIRE_REFUSED(legacy_with(Pickle().proto().raw("X\xff\xff\xff\x7f").stop().b), "truncated");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().raw("\x8d\xff\xff\xff\xff\xff\xff\xff\x7f").stop().b), "truncated");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().raw("\x8b\xff\xff\xff\xff").stop().b), "negative LONG4");
    REQUIRE_REFUSED(legacy_with(Pickle().proto().raw("\x95\xff\xff\xff\xff\xff\xff\xff\x7f").none().stop().b), "FRAME");
  }
  SECTION("a cycle (a = []; a.append(a)) and deep nesting") {
    Pickle p;
    p.proto().empty_dict().binput(0).str("w").empty_list().binput(1).binget(1).append().setitem().stop();
    REQUIRE_REFUSED(legacy_file(p.b, {}), "nested deeper than");
    Pickle deep;
    deep.proto();
    for (int i = 0; i < 5000; ++i) deep.empty_list();
    for (int i = 0; i < 4999; ++i) deep.append();
    deep.stop();
    REQUIRE_REFUSED(legacy_file(deep.b, {}), "nested deeper than");
  }
  SECTION("a billion-laughs pickle: each list holds the previous one twice") {
    Pickle p;
    p.proto().empty_dict().str("w").empty_list().binput(0).op('0');
    for (int i = 1; i < 60; ++i) p.empty_list().mark().binget(i - 1).binget(i - 1).appends().binput(i).op('0');
    p.binget(59).setitem().stop();
    REQUIRE_REFUSED(legacy_file(p.b, {}), "recursion bomb");  // after max_visits, not 2^60 visits
  }
  SECTION("the quadratic trap: OrderedDict(big_list) over and over") {
    Pickle p;
    p.proto().empty_list().binput(0).mark();
    for (int i = 0; i < 20000; ++i) p.mark().none().none().tuple();
    p.appends();
    for (int i = 0; i < 20000; ++i) p.global("collections", "OrderedDict").binget(0).op('\x85').reduce().op('0');
    p.stop();
    REQUIRE_REFUSED(legacy_file(p.b, {}), "too much work");
  }
}

TEST_CASE("crafted tensors: bad sizes, strides, offsets, storages", "[weights][hostile]") {
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {5}, {1})), "outside its storage");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 4, {1}, {1})), "outside its storage");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {2, 2}, {3, 1})), "outside its storage");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {2}, {-1})), "negative");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, -1, {2}, {1})), "negative storage offset");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {2, 2}, {1})), "2 sizes but 1 strides");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {std::int64_t{1} << 62, 8}, {0, 0})), "overflows");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {2, std::int64_t{1} << 62}, {1, 1})), "overflows");
  // stride 0 over a huge shape: fits the storage, but would be terabytes once made dense
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {1 << 20, 1 << 20}, {0, 0})), "stride-0 view");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, std::vector<std::int64_t>(65, 1), std::vector<std::int64_t>(65, 1))),
                  "64 dimensions");
  // the storage record disagrees with the persistent id
  REQUIRE_REFUSED(legacy_file(one_tensor_pickle(4, 0, {4}, {1}), {{"0", 3, floats({1, 2, 3})}}), "3 elements, expected 4");
  REQUIRE_REFUSED(legacy_file(one_tensor_pickle(4, 0, {4}, {1}), {{"0", 4, floats({1, 2})}}), "truncated");
  REQUIRE_REFUSED(legacy_file(one_tensor_pickle(4, 0, {4}, {1}), {{"1", 4, floats({1, 2, 3, 4})}}), "that nothing references");
  REQUIRE_REFUSED(torch_zip(one_tensor_pickle(4, 0, {4}, {1}), {{"0", floats({1, 2, 3})}}), "holds 12 bytes");
  REQUIRE_REFUSED(torch_zip(one_tensor_pickle(4, 0, {4}, {1}), {}), "missing from the file");
  {  // ... unless a filter leaves out the only tensor using that storage: then it is never looked for
    Pickle p;
    p.proto().empty_dict().mark();
    p.str("good").tensor("FloatStorage", "0", 2, 0, {2}, {1});
    p.str("lost").tensor("FloatStorage", "1", 2, 0, {2}, {1});
    p.setitems().stop();
    const Bytes zip = torch_zip(p.b, {{"0", floats({1, 2})}});
    REQUIRE_REFUSED(zip, "storage '1' of tensor 'lost' is missing");
    LoadOptions options;
    options.filter = keep_prefixes({"good"});
    CHECK(from(zip, options).names() == std::vector<std::string>{"good"});
  }
  REQUIRE_REFUSED(torch_zip(one_tensor_pickle(std::int64_t{1} << 62, 0, {4}, {1}), {{"0", floats({1, 2, 3, 4})}}),
                  "holds 16 bytes");
  REQUIRE_REFUSED(legacy_with(one_tensor_pickle(4, 0, {4}, {1}, "QInt8Storage")), "unknown global 'torch.QInt8Storage'");
  // a bool storage holding bytes other than 0/1 is normalised, not trusted
  StateDict sd = from(torch_zip(one_tensor_pickle(3, 0, {3}, {1}, "BoolStorage"), {{"0", Bytes("\x00\x07\x01", 3)}}));
  CHECK(sd.at("w").to(at::kInt).sum().item<int>() == 2);
}

TEST_CASE("crafted zip archives", "[weights][hostile]") {
  const Bytes pickle = one_tensor_pickle(4, 0, {4}, {1});
  const Bytes good = torch_zip(pickle, {{"0", floats({1, 2, 3, 4})}});
  REQUIRE(from(good).size() == 1);
  {  // zip64 records (archives over 4 GiB, e.g. the 5.7 GB ControlNet checkpoints)
    StateDict sd = from(torch_zip(pickle, {{"0", floats({1, 2, 3, 4})}}, "big", true));
    CHECK(sd.at("w").sum().item<float>() == 10.0f);
    Bytes b = torch_zip(pickle, {{"0", floats({1, 2, 3, 4})}}, "big", true);
    std::size_t locator = b.size() - 22 - 20;
    b[locator + 8] = '\x7f';  // zip64 end record offset out of range
    REQUIRE_REFUSED(b, "zip64 end-of-central-directory record missing");
  }
  REQUIRE_REFUSED(zip_file({{"archive/other.txt", "x"}}), "no '<name>/data.pkl'");
  REQUIRE_REFUSED(zip_file({{"archive/data.pkl", pickle}}, 8), "compressed (method 8)");
  {  // central directory offset pointing past the end
    Bytes b = good;
    std::size_t eocd = b.size() - 22;
    b[eocd + 16] = '\xff';
    b[eocd + 19] = '\x7f';
    REQUIRE_REFUSED(b, "outside the archive");
  }
  {  // entry count larger than the directory can hold
    Bytes b = good;
    std::size_t eocd = b.size() - 22;
    b[eocd + 10] = '\xff';
    b[eocd + 11] = '\xff';
    REQUIRE_REFUSED(b, "claims 65535 entries");
  }
  {  // local header offset of data.pkl beyond the file
    Bytes b = good;
    std::size_t cd = b.find("PK\x01\x02");
    b[cd + 45] = '\x7f';
    REQUIRE_REFUSED(b, "no valid local header");
  }
  {  // a stored entry whose size runs past the end
    Bytes b = good;
    std::size_t cd = b.find("PK\x01\x02");
    for (int i : {20, 24}) b[cd + i + 3] = '\x10';
    REQUIRE_REFUSED(b, "extends past the end");
  }
  {  // TorchScript archives get a hint
    Bytes ts = zip_file({{"m/data.pkl", Pickle().proto().global("__torch__", "MyModule").stop().b}, {"m/constants.pkl", ""}});
    REQUIRE_REFUSED(ts, "TorchScript");
  }
}

TEST_CASE("crafted safetensors headers", "[weights][hostile]") {
  const Bytes four = floats({1, 2, 3, 4});
  auto st = [&](const std::string& header, const Bytes& payload) { return safetensors_file(header, payload); };
  auto refused = [&](const Bytes& b, const std::string& needle) {
    CHECK_THROWS_WITH(load_from_memory(b.data(), b.size(), "crafted.safetensors"),
                      Catch::Contains("crafted.safetensors") && Catch::Contains(needle));
  };
  REQUIRE(from(st(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", four)).size() == 1);
  {
    Bytes b = st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", four);
    b[7] = '\x01';  // header length 2^56 + ...
    refused(b, "exceeds the 100 MB limit");
    b[7] = 0;
    b[2] = 0x10;  // 1 MB: within the limit but past the file
    refused(b, "exceeds the file size");
  }
  refused(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}})", four), "do not match its shape");
  refused(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", four), "do not match its shape");
  refused(st(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", four), "past the data");
  refused(st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}})", four),
          "overlap");
  refused(st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", four),
          "gap");
  refused(st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", four), "trailing bytes");
  refused(st(R"({"w":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}})", four), "unsupported safetensors dtype");
  refused(st(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", four), "non-negative integer");
  refused(st(R"({"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,16]}})", four), "too large");
  refused(st(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,16]}})", four), "overflows");
  refused(st(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", four), "overflows");
  refused(st(R"({"w":{"dtype":"F32","shape":[4]}})", four), "lacks dtype, shape or data_offsets");
  refused(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", four),
          "duplicate tensor name");
  refused(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16])", four), "unexpected end");
  refused(st(R"({"__metadata__":{"k":1}})", ""), "must be strings");
  refused(st("{\"w\xff\":{}}", ""), "not valid UTF-8");
  refused(st(R"({"w":{"x":)" + std::string(100, '[') + std::string(100, ']') + "}}", ""), "nested too deeply");
  refused(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}} x)", four), "trailing characters");
  // the reserved name round-trips only as metadata
  Bytes ok = st(R"({"__metadata__":{"a":"b\u00e9\ud83d\ude00"},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", four);
  StateDict sd = load_from_memory(ok.data(), ok.size(), "ok.safetensors");
  CHECK(sd.metadata.at("a") == "b\xc3\xa9\xf0\x9f\x98\x80");
}
