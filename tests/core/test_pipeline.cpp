// Pipeline TOML: syntax errors with file:line:col, unknown keys with did-you-mean, parameters
// checked against plugin schemas (type, range, enum, unknown), defaults filled and echoed.
#include <difss/core/errors.hpp>
#include <difss/core/pipeline.hpp>

#include <fstream>
#include <sstream>

#include "shared_data.hpp"
#include "test_helpers.hpp"

using namespace difss;
using namespace difss::test;

namespace {

std::string config_error(const std::string& toml, bool resolve = true) {
  try {
    Pipeline p = parse_pipeline_string(toml, "/tmp/p.toml");
    if (resolve) resolve_plugins(p, test_registry());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kGood = R"(
[pipeline]
name = "t"
seed = 3
[dataset]
kind = "yolo-seg"
root = "data"
[condition]
plugin = "org.difss.test.mask-condition"
[generator]
plugin = "org.difss.test.noise-sampler"
params = { steps = 5 }
[segmenter]
plugin = "org.difss.test.color-segmenter"
params = { scale = 30 }
)";

}  // namespace

TEST_CASE("a valid pipeline resolves and fills defaults") {
  Pipeline p = parse_pipeline_string(kGood, "/tmp/x/p.toml");
  resolve_plugins(p, test_registry());
  REQUIRE(p.generator);
  CHECK(p.generator->params.find("steps")->i == 5);
  CHECK(p.generator->params.find("amplitude")->f == 20.0);  // default filled
  CHECK(p.segmenter->params.find("scale")->f == 30.0);      // int accepted for a float
  CHECK(p.dataset.root == "/tmp/x/data");                    // relative to the pipeline file
  auto j = p.resolved_json();
  CHECK(j["generator"]["params"]["amplitude"] == 20.0);
  CHECK(j["pipeline"]["seed"] == 3);
  CHECK(j["generator"]["per_support"] == 4);
  CHECK(j["evaluation"]["eval_size"] == "label");
}

TEST_CASE("malformed TOML is reported as file:line:col") {
  std::string e = config_error("[pipeline]\nname = \"x\"\nseed = = 3\n", false);
  CHECK_THAT(e, Catch::StartsWith("/tmp/p.toml:3:"));
}

TEST_CASE("unknown keys and sections are errors with a did-you-mean") {
  std::string e = config_error("[pipeline]\nsede = 1\n[dataset]\nkind = \"x\"\n", false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:2:1: unknown key 'sede' in [pipeline] (did you mean 'seed'?)"));
  e = config_error("[segmentor]\nplugin = \"x\"\n", false);
  CHECK_THAT(e, Catch::Contains("unknown section [segmentor] (did you mean 'segmenter'?)"));
}

TEST_CASE("host-level value types and enums are checked") {
  std::string e = config_error("[pipeline]\nseed = \"zero\"\non_error = \"skipp\"\n", false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:2:8: 'seed' must be an integer, got string"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:3:12: 'on_error' is \"skipp\"; expected one of: stop, skip (did you mean 'skip'?)"));
}

TEST_CASE("unknown plugin ids list close matches") {
  std::string toml = kGood;
  toml.replace(toml.find("org.difss.test.color-segmenter"), 30, "org.difss.test.colour-segmenter");
  std::string e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("unknown plugin 'org.difss.test.colour-segmenter'"));
  CHECK_THAT(e, Catch::Contains("did you mean 'org.difss.test.color-segmenter'?"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:14:10"));
}

TEST_CASE("plugin parameters: wrong type, out of range, unknown name, bad enum") {
  std::string toml = kGood;
  toml.replace(toml.find("steps = 5"), 9, "steps = \"five\", amplitde = 2");
  std::string e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("parameter 'steps' of plugin 'org.difss.test.noise-sampler': expected int, got string"));
  CHECK_THAT(e, Catch::Contains("unknown parameter 'amplitde'"));
  CHECK_THAT(e, Catch::Contains("(did you mean 'amplitude'?)"));

  toml = kGood;
  toml.replace(toml.find("scale = 30"), 10, "scale = 5000.0");
  e = config_error(toml);
  CHECK_THAT(e, Catch::Contains("parameter 'scale'"));
  CHECK_THAT(e, Catch::Contains("out of range; expected float in [1, 1000]"));

  e = config_error(R"([dataset]
kind = "x"
[segmenter]
plugin = "org.difss.test.throwing-segmenter"
params = { mode = "sdt" }
)");
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:5:19: parameter 'mode'"));
  CHECK_THAT(e, Catch::Contains("(did you mean 'std'?)"));
}

TEST_CASE("a plugin in the wrong section is named with both kinds") {
  std::string e = config_error(R"([dataset]
kind = "x"
[segmenter]
plugin = "org.difss.test.noise-sampler"
)");
  CHECK_THAT(e, Catch::Contains("is a sampler, but [segmenter] needs a segmenter"));
}

// ---------------------------------------------------------------------------- one owner per value

namespace {

// ControlNet4FSS FSSpregenerate.py (commit 4c89702), word for word: prompt = f'a real shot photo of
// {category_name[fg_cls]},' sent as prompt + ', ' + a_prompt, and its n_prompt.
const std::string kOfficialPrompt = "a real shot photo of dog,, best quality, extremely detailed";
const std::string kOfficialNegative =
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, "
    "worst quality, low quality, artwork";

std::string read_text(const std::filesystem::path& f) {
  std::ifstream in(f);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("per_support is the host's: [generator] per_support is the count; in params it is refused") {
  Pipeline p = parse_pipeline_string(kGood, "/tmp/p.toml");
  CHECK(p.aux_per_support() == 4);  // the key table's default
  std::string toml = kGood;
  toml.replace(toml.find("params = { steps = 5 }"), 22, "per_support = 2\nparams = { steps = 5 }");
  CHECK(parse_pipeline_string(toml, "/tmp/p.toml").aux_per_support() == 2);
  toml = kGood;
  toml.erase(toml.find("[generator]"), toml.find("[segmenter]") - toml.find("[generator]"));
  CHECK(parse_pipeline_string(toml, "/tmp/p.toml").aux_per_support() == 0);  // no [generator]: no aux

  toml = kGood;
  toml.replace(toml.find("steps = 5"), 9, "steps = 5, per_support = 2");
  std::string e = config_error(toml, false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:12:37: [generator] params: 'per_support' is not a sampler parameter") &&
                    Catch::Contains("write `per_support = N` directly under [generator]"));
  toml = kGood;
  toml.replace(toml.find("steps = 5"), 9, "a_prompt = \"hq\", n_prompt = \"bad\", double_comma = true");
  e = config_error(toml, false);
  CHECK_THAT(e, Catch::Contains("'a_prompt' is not a sampler parameter") &&
                    Catch::Contains("the suffix is part of [generator] prompt"));
  CHECK_THAT(e, Catch::Contains("'n_prompt' is not a sampler parameter") &&
                    Catch::Contains("write it as [generator] negative_prompt"));
  CHECK_THAT(e, Catch::Contains("'double_comma' is not a sampler parameter") &&
                    Catch::Contains("write FSSpregenerate.py's ',,' into [generator] prompt"));
  toml = kGood;
  toml.replace(toml.find("params = { steps = 5 }"), 22, "per_support = 65");
  CHECK_THAT(config_error(toml, false), Catch::Contains("/tmp/p.toml:12:15: 'per_support' must be in [0, 64]"));
}

TEST_CASE("the pipeline owns the prompts: by default FSSpregenerate.py's texts, exactly as written otherwise") {
  // the demo: its own template, the class name only (the tiny model knows classes by name and
  // ignores the negative prompt)
  Pipeline demo = parse_pipeline(std::filesystem::path(DIFSS_SOURCE_DIR) / "configs" / "demo.toml");
  REQUIRE(demo.generator);
  CHECK(demo.prompt_for("striped-circle") == "striped-circle");
  CHECK(demo.negative_prompt() == kOfficialNegative);
  // a ControlNet pipeline with the defaults: the script's texts, ",," and "artwork" included
  Pipeline cn = parse_pipeline_string(R"([dataset]
kind = "synthetic"
[condition]
plugin = "org.difss.condition.seg-palette"
[generator]
plugin = "org.difss.sampler.controlnet-sd15"
params = { checkpoint = "control_sd15_seg.pth" }
)", "/tmp/cn.toml");
  CHECK(cn.prompt_for("dog") == kOfficialPrompt);
  CHECK(cn.negative_prompt() == kOfficialNegative);
  // any template is sent exactly as written (",," or not); {class} may appear more than once
  Pipeline gradio = parse_pipeline_string("[generator]\nprompt = \"a real shot photo of {class}, best quality, "
                                          "extremely detailed\"\nnegative_prompt = \"\"\n", "/tmp/f.toml");
  CHECK(gradio.prompt_for("dog") == "a real shot photo of dog, best quality, extremely detailed");
  CHECK(gradio.negative_prompt().empty());
  CHECK(parse_pipeline_string("[generator]\nprompt = \"{class},, and {class},,\"\n", "/tmp/f.toml").prompt_for("cat") ==
        "cat,, and cat,,");
}

TEST_CASE("FSSpregenerate.py's FSS-1000 prompt bug: every FSS-1000 class is prompted as 'taxi' in bug mode") {
  const std::string base = "[dataset]\nkind = \"fss1000\"\n[condition]\nplugin = \"org.difss.condition.seg-palette\"\n";
  // off by default: each class its own name
  Pipeline plain = parse_pipeline_string(base + "[generator]\n", "/tmp/b.toml");
  CHECK(plain.prompt_class_name("eiffel_tower", "fss1000") == "eiffel_tower");
  // on with [generator] official_bugs, or inherited from the condition's official_bugs parameter
  Pipeline host = parse_pipeline_string(base + "[generator]\nofficial_bugs = true\n", "/tmp/b.toml");
  CHECK(host.prompt_class_name("eiffel_tower", "fss1000") == "taxi");
  CHECK(host.prompt_for(host.prompt_class_name("eiffel_tower", "fss1000")) ==
        "a real shot photo of taxi,, best quality, extremely detailed");
  Pipeline cond = parse_pipeline_string(base + "params = { official_bugs = true }\n[generator]\n", "/tmp/b.toml");
  CHECK(cond.prompt_class_name("eiffel_tower", "fss1000") == "taxi");
  // the bug concerns FSS-1000's binarised masks only: PASCAL and COCO keep their names
  CHECK(host.prompt_class_name("dog", "pascal") == "dog");
  CHECK(host.prompt_class_name("person", "coco") == "person");
}

TEST_CASE("one key table: every key is read, checked and echoed with its one default") {
  Pipeline p = parse_pipeline_string("[dataset]\nkind = \"synthetic\"\n[generator]\n", "/tmp/d/keys.toml");
  const auto j = p.resolved_json();
  for (const KeySpec& k : pipeline_keys()) {
    INFO(k.section << "." << k.key);
    if (k.key == "plugin" || k.key == "params") continue;  // a plugin section's own keys
    REQUIRE(j[k.section].contains(k.key));
    const auto& v = j[k.section][k.key];
    const bool computed = k.default_value.find('<') != std::string::npos || k.default_value.front() == '(';
    if (computed) continue;  // checked below
    const std::string shown = v.is_string() ? (v.get<std::string>().empty() ? "\"\"" : v.get<std::string>()) : v.dump();
    CHECK(shown == k.default_value);
  }
  // an empty file is a pipeline of defaults
  Pipeline empty = parse_pipeline_string("", "/tmp/d/empty.toml");
  CHECK(empty.mode == "evaluate");
  CHECK(empty.on_error == "stop");
  CHECK(empty.evaluation.compare_without_aux);
  CHECK(empty.aux_per_support() == 0);
  // the computed defaults
  CHECK(p.name == "keys");
  CHECK(p.output == std::filesystem::absolute("runs/keys"));
  CHECK(p.aux.aux_dir == p.output / "aux");
  CHECK(p.evaluation.input_size == 400);
  CHECK(p.evaluation.eval_size == "label");
  CHECK(p.dataset.shots == 1);
  // a protocol's bundle sets the defaults it names; keys written in the pipeline win
  Pipeline hsnet = parse_pipeline_string("[evaluation]\nprotocol = \"hsnet\"\n", "/tmp/d/h.toml");
  CHECK(hsnet.evaluation.eval_size == "model_input");
  CHECK(hsnet.evaluation.input_size == 400);
  Pipeline dcama = parse_pipeline_string("[evaluation]\nprotocol = \"dcama\"\n", "/tmp/d/h.toml");
  CHECK(dcama.evaluation.input_size == 384);
  Pipeline original = parse_pipeline_string("[evaluation]\nprotocol = \"hsnet\"\neval_size = \"label\"\ninput_size = 473\n",
                                            "/tmp/d/h.toml");
  CHECK(original.evaluation.eval_size == "label");
  CHECK(original.evaluation.input_size == 473);
  // typed checks from the same rows, located at the value
  std::string e = config_error(R"([dataset]
shots = 0
support_sampling = "distinctt"
options = 3
[evaluation]
input_size = 4
compare_without_aux = "yes"
[generator]
prompt = 7
)", false);
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:2:9: 'shots' must be >= 1"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:3:20: 'support_sampling' is \"distinctt\"; expected one of: hsnet, distinct, cross_group, cross_group_distinct (did you mean 'distinct'?)"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:4:11: 'options' must be a table, got int"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:6:14: 'input_size' must be in [8, 4096]"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:7:23: 'compare_without_aux' must be a boolean, got string"));
  CHECK_THAT(e, Catch::Contains("/tmp/p.toml:9:10: 'prompt' must be a string, got int"));
  CHECK_THAT(config_error("[generator]\naux_dir = \"a\"\nper_suport = 1\n", false),
             Catch::Contains("/tmp/p.toml:3:1: unknown key 'per_suport' in [generator] (did you mean 'per_support'?)"));
}

TEST_CASE("docs/CONFIG_REFERENCE.md holds the key table exactly as validate --keys prints it") {
  const std::string doc = read_text(std::filesystem::path(DIFSS_SOURCE_DIR) / "docs" / "CONFIG_REFERENCE.md");
  REQUIRE_FALSE(doc.empty());
  const std::string table = pipeline_keys_markdown();
  CHECK(table.find("| `per_support` | int | `4` | in [0, 64] |") != std::string::npos);
  INFO("regenerate the tables with `difss-host validate --keys`");
  CHECK(doc.find(table) != std::string::npos);
}

TEST_CASE("the FSS-1000 name of the prompt bug is line 2 of ControlNet4FSS's fss1k_all.txt", "[shared]") {
  DIFSS_REQUIRE_SHARED("ref/fss1k_all.txt");
  std::ifstream in(difss::test::shared_dir() / "ref/fss1k_all.txt");
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  for (auto* line : {&first, &second})
    if (!line->empty() && line->back() == '\r') line->pop_back();
  CHECK(second.substr(0, second.find('#')) == "taxi");  // fss_name() splits on '#'
  Pipeline p = parse_pipeline_string("[generator]\nofficial_bugs = true\n", "/tmp/b.toml");
  CHECK(p.prompt_class_name(first, "fss1000") == second.substr(0, second.find('#')));
}
