// The one table of a pipeline's host-level keys. A key's row holds everything about it: its
// type, its default, its check, its doc and the typed field it fills. Parsing, the resolved
// record (results.json), `difss-host validate --keys` and docs/CONFIG_REFERENCE.md all read
// this table; nothing else states a default.
#include <functional>
#include <limits>

#include "difss/core/protocol.hpp"
#include "difss/core/suggest.hpp"
#include "toml_read.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace difss {
namespace {

// The texts ControlNet4FSS's FSSpregenerate.py (the script DifFSS generated its supports with)
// gives the sampler: f'a real shot photo of {c},' joined to a_prompt with ', ' (hence ",,"), and
// its n_prompt, which ends with "artwork" (gradio_seg2image.py's does not).
const char* const kDefaultPrompt = "a real shot photo of {class},, best quality, extremely detailed";
const char* const kDefaultNegativePrompt =
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, "
    "cropped, worst quality, low quality, artwork";

enum class Type { String, Int, Bool, Enum, Path, Table };
enum class Base { PipelineFile, CurrentDir };  // what a relative Path is relative to
constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

// Stores a checked JSON value into the typed field of a Pipeline and reads it back.
struct Field {
  std::function<void(Pipeline&, const json&)> store;
  std::function<json(const Pipeline&)> load;
};

template <class S, class P>
auto& section_of(P& p) {
  if constexpr (std::is_same_v<S, DatasetSection>) return p.dataset;
  else if constexpr (std::is_same_v<S, GeneratorSection>) return p.aux;
  else if constexpr (std::is_same_v<S, EvaluationSection>) return p.evaluation;
  else return p;  // PipelineSection is a base of Pipeline
}

template <class S, class T>
Field field(T S::*member) {
  Field f;
  f.store = [member](Pipeline& p, const json& v) {
    if constexpr (std::is_same_v<T, fs::path>) section_of<S>(p).*member = v.get<std::string>();
    else section_of<S>(p).*member = v.get<T>();
  };
  f.load = [member](const Pipeline& p) -> json {
    if constexpr (std::is_same_v<T, fs::path>) return (section_of<S>(p).*member).string();
    else return section_of<S>(p).*member;
  };
  return f;
}

struct Key {
  std::string section, key;
  Type type = Type::String;
  json fallback;                                 // the default (null: none)
  json (*computed)(const Pipeline&) = nullptr;   // a default that depends on other keys
  std::string shown;                             // the default as docs show it, when computed/required
  int64_t min = std::numeric_limits<int64_t>::min(), max = kNoMax;  // Int
  std::vector<std::string> choices;              // Enum
  Base base = Base::PipelineFile;                // Path
  std::string doc;
  Field field;  // empty for a plugin section's `plugin` / `params` (read with the stage)

  Key& computed_default(json (*f)(const Pipeline&), std::string how) {
    computed = f;
    shown = std::move(how);
    return *this;
  }
  Key& required(std::string how = "(required)") {
    fallback = nullptr;
    shown = std::move(how);
    return *this;
  }
  Key& relative_to(Base b) {
    base = b;
    return *this;
  }
};

Key text(const char* s, const char* k, const char* def, const char* doc, Field f = {}) {
  Key key{s, k, Type::String, def};
  key.doc = doc;
  key.field = std::move(f);
  return key;
}
Key integer(const char* s, const char* k, int64_t def, int64_t min, int64_t max, const char* doc, Field f) {
  Key key{s, k, Type::Int, def};
  key.min = min;
  key.max = max;
  key.doc = doc;
  key.field = std::move(f);
  return key;
}
Key flag(const char* s, const char* k, bool def, const char* doc, Field f) {
  Key key{s, k, Type::Bool, def};
  key.doc = doc;
  key.field = std::move(f);
  return key;
}
Key choice(const char* s, const char* k, std::vector<std::string> choices, const char* def,
           const char* doc, Field f) {
  Key key{s, k, Type::Enum, def};
  key.choices = std::move(choices);
  key.doc = doc;
  key.field = std::move(f);
  return key;
}
Key path(const char* s, const char* k, const char* doc, Field f) {
  Key key{s, k, Type::Path, ""};
  key.doc = doc;
  key.field = std::move(f);
  return key;
}
Key table(const char* s, const char* k, const char* doc, Field f = {}) {
  Key key{s, k, Type::Table, json::object()};
  key.doc = doc;
  key.field = std::move(f);
  return key;
}

const std::vector<Key>& keys() {
  using P = PipelineSection;
  using D = DatasetSection;
  using G = GeneratorSection;
  using E = EvaluationSection;
  static const std::vector<Key> table_ = {
      text("pipeline", "name", "", "Name of the run.", field(&P::name))
          .computed_default([](const Pipeline& p) -> json { return p.file.stem().string(); }, "<file stem>"),
      choice("pipeline", "mode", {"evaluate", "generate"}, "evaluate",
             "evaluate: episodes -> metrics; generate: write auxiliary supports for every (image, class) pair.",
             field(&P::mode)),
      integer("pipeline", "seed", 0, 0, kNoMax,
              "Seed of every random choice (episodes, per-item diffusion seeds).", field(&P::seed)),
      path("pipeline", "output", "Run directory (relative to the current directory).", field(&P::output))
          .relative_to(Base::CurrentDir)
          .computed_default([](const Pipeline& p) -> json {
            return fs::absolute(fs::path("runs") / p.name).lexically_normal().string();
          }, "runs/<name>"),
      integer("pipeline", "threads", 0, 0, 1024, "Intra-op threads (0 = all cores); set once at start-up.",
              field(&P::threads)),
      choice("pipeline", "on_error", {"stop", "skip"}, "stop",
             "stop: an unreadable item stops the run; skip: it is logged, skipped and counted.",
             field(&P::on_error)),
      choice("pipeline", "log_level", {"trace", "debug", "info", "warn", "error"}, "info",
             "Console log level.", field(&P::log_level)),

      text("dataset", "kind", "",
           "Dataset reader: pascal5i, coco20i, fss1000, folder, coco-json, yolo-seg, synthetic.", field(&D::kind))
          .required(),
      path("dataset", "root", "Dataset folder (relative to the pipeline file).", field(&D::root)),
      integer("dataset", "fold", 0, 0, kNoMax, "Fold whose classes are evaluated.", field(&D::fold)),
      text("dataset", "split", "val", "Split: trn, val or test.", field(&D::split)),
      path("dataset", "split_dir", "A copy of HSNet's data/splits (optional).", field(&D::split_dir)),
      integer("dataset", "shots", 1, 1, kNoMax, "Real supports per episode (K).", field(&D::shots)),
      integer("dataset", "episodes", 0, 0, kNoMax,
              "Episodes (0 = the protocol's default: 1000, or every sample (FSS-1000: 2400); bam / hdmnet: 1000 "
              "per seed; cyctr: 1001). A smaller count evaluates a prefix of the same sequence (per seed for bam / "
              "hdmnet; of the list for an episodes_file).",
              field(&D::episodes)),
      choice("dataset", "support_sampling", {"hsnet", "distinct", "cross_group", "cross_group_distinct"},
             "hsnet",
             "hsnet: K independent draws among the class's other images, as HSNet (duplicates possible); "
             "distinct: K different images; cross_group(_distinct): the same, never from the query's "
             "group (video, patient, site; see the reader's group options).",
             field(&D::support_sampling)),
      path("dataset", "episodes_file",
           "A fixed episode list to evaluate instead of drawing episodes (relative to the pipeline file): a "
           "run's episodes.json (difss-episodes JSON: sample indices or names) or text lines "
           "\"CLASS<TAB>QUERY<TAB>SUPPORT;SUPPORT\" with the official names; [dataset] episodes > 0 takes a "
           "prefix. See docs/PROTOCOLS.md.",
           field(&D::episodes_file)),
      table("dataset", "options", "Reader-specific options (see core/data/README.md).", field(&D::options)),

      text("condition", "plugin", "", "Condition-generator plugin id.").required(),
      table("condition", "params", "Its parameters (see `difss-host plugins inspect ID`)."),

      text("generator", "plugin", "", "Sampler plugin id (omit to only read aux_dir)."),
      table("generator", "params", "Its parameters (per_support and the prompts are the keys below, not parameters)."),
      integer("generator", "per_support", 4, 0, 64,
              "Auxiliary images per real support; the host passes it to the sampler as the count.",
              field(&G::per_support)),
      path("generator", "aux_dir",
           "Auxiliary-support store (DifFSS naming; relative to the pipeline file); existing images are reused.",
           field(&G::aux_dir))
          .computed_default([](const Pipeline& p) -> json { return (p.output / "aux").string(); }, "<output>/aux"),
      text("generator", "prompt", kDefaultPrompt,
           "The prompt the sampler receives, exactly as written; {class} is replaced by the class name. The "
           "default is FSSpregenerate.py's text (its \",,\" included); ControlNet4FSS's gradio demo sends "
           "\"a real shot photo of {class}, best quality, extremely detailed\". Samplers append nothing.",
           field(&G::prompt)),
      text("generator", "negative_prompt", kDefaultNegativePrompt,
           "The negative prompt the sampler receives (default: FSSpregenerate.py's n_prompt, word for word; the "
           "gradio demo's lacks \", artwork\").",
           field(&G::negative_prompt)),
      flag("generator", "official_bugs", false,
           "Prompt as FSSpregenerate.py does, bug included: it binarises FSS-1000 masks to label 1 and names "
           "every FSS-1000 class fss_name()[1] = \"taxi\". Also on when the [condition] plugin's own "
           "official_bugs parameter is true (seg-palette: the colour of the same bug).",
           field(&G::official_bugs)),

      text("segmenter", "plugin", "", "Segmenter plugin id.").required("(required for evaluate)"),
      table("segmenter", "params", "Its parameters."),

      choice("evaluation", "protocol", protocol_names(), "none",
             "A bundle of evaluation settings as a paper's code evaluates: none (difss's own episodes, "
             "original-size labels), hsnet (HSNet test.py: its episode sequence from numpy's RandomState "
             "seeded by [pipeline] seed, prediction and nearest-resized label at 400x400), dcama (the same "
             "episodes at 384x384), bam / hdmnet (BAM's / HDMNet's test.py: 1000 episodes (HDMNet on coco20i: 10000) "
             "for each of 5 / 10 seeds from BAM's lists, original-size labels; per-seed, mean and best in "
             "results.json), cyctr (CyCTR's test.py: the same sampler, one seed 123, 1001 episodes; coco20i: 321, "
             "5001). pascal5i and coco20i (use_split_coco). Keys "
             "written here override the bundle; results.json records it (docs/PROTOCOLS.md).",
             field(&E::protocol)),
      path("evaluation", "protocol_lists",
           "bam / hdmnet / cyctr: the folder of BAM's lists/pascal/fss_list/val or lists/coco/fss_list/val "
           "(data_list_<fold>.txt, sub_class_file_list_<fold>.txt; for cyctr written from the val_list_split<fold>.pth "
           "CyCTR's make_dataset loads or writes), relative to the pipeline file.",
           field(&E::protocol_lists)),
      choice("evaluation", "eval_size", {"label", "model_input", "input"}, "",
             "label: the prediction at the query's size against the label as stored (HSNet's "
             "--use_original_imgsize); model_input: the prediction at the segmenter's input size against the "
             "label nearest-resized to input_size x input_size (HSNet's default); input: the query-size "
             "prediction and the label both nearest-resized to input_size x input_size.",
             field(&E::eval_size))
          .computed_default([](const Pipeline& p) -> json { return protocol_bundle(p.evaluation.protocol).eval_size; },
                            "(the protocol's: model_input for hsnet, dcama; label for the others)"),
      flag("evaluation", "compare_without_aux", true,
           "Also segment with the real supports only, to report mIoU with and without auxiliary supports.",
           field(&E::compare_without_aux)),
      integer("evaluation", "grids", 8, 0, kNoMax, "Episodes drawn as PNG grids in the report.", field(&E::grids)),
      integer("evaluation", "repeats", 1, 1, 100,
              "Run the whole evaluation this many times, at [pipeline] seed, seed + 1, ... (other episodes, "
              "other aux samples), each into <output>/seed-<s> (aux in <aux_dir>/seed-<s>); <output>/results.json "
              "and index.html then give every metric per seed and as mean +- sample std (seeds.hpp).",
              field(&E::repeats)),
      integer("evaluation", "input_size", 0, 8, 4096,
              "Side of the square evaluation size of eval_size = \"model_input\" / \"input\".",
              field(&E::input_size))
          .computed_default([](const Pipeline& p) -> json { return protocol_input_size(p); },
                            "(the protocol's: 400 for none, hsnet; 384 for dcama; 473 for bam, hdmnet, cyctr; on "
                            "coco20i 641 for bam, 633 for hdmnet)"),
  };
  return table_;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::String: return "string";
    case Type::Int: return "int";
    case Type::Bool: return "bool";
    case Type::Enum: return "enum";
    case Type::Path: return "path";
    case Type::Table: return "table";
  }
  return "?";
}

const char* expected(Type t) {
  switch (t) {
    case Type::Int: return "an integer";
    case Type::Bool: return "a boolean";
    case Type::Path: return "a path string";
    case Type::Table: return "a table";
    default: return "a string";
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The check a key applies beyond its type, in words ("" = none).
std::string check_text(const Key& k) {
  if (k.type == Type::Enum) return "one of: " + join(k.choices);
  if (k.type != Type::Int || (k.min == std::numeric_limits<int64_t>::min() && k.max == kNoMax)) return "";
  if (k.max == kNoMax) return ">= " + std::to_string(k.min);
  return "in [" + std::to_string(k.min) + ", " + std::to_string(k.max) + "]";
}

// Checks a written value against its key; on success `out` holds it as JSON, else the problem.
std::string check(const Key& k, const toml::node& n, json& out) {
  const std::string name = "'" + k.key + "'";
  const bool type_ok = k.type == Type::Int    ? n.is_integer()
                       : k.type == Type::Bool  ? n.is_boolean()
                       : k.type == Type::Table ? n.is_table()
                                               : n.is_string();
  if (!type_ok) return name + " must be " + expected(k.type) + ", got " + detail::toml_type_name(n);
  out = detail::to_json(n);
  if (k.type == Type::Int) {
    const int64_t x = out.get<int64_t>();
    if (x < k.min || x > k.max) return name + " must be " + check_text(k);
  }
  if (k.type == Type::Enum) {
    const std::string s = out.get<std::string>();
    if (std::find(k.choices.begin(), k.choices.end(), s) == k.choices.end())
      return name + " is \"" + s + "\"; expected " + check_text(k) + did_you_mean(s, k.choices);
  }
  return "";
}

json resolve_path(const Key& k, const std::string& v, const Pipeline& p) {
  if (k.base == Base::CurrentDir) return fs::absolute(v).lexically_normal().string();
  return (p.file.parent_path() / v).lexically_normal().string();
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> out;
  for (const auto& k : keys())
    if (k.section == section) out.push_back(k.key);
  return out;
}

std::string shown_default(const Key& k) {
  if (!k.shown.empty()) return k.shown;
  if (k.fallback.is_string()) return k.fallback.get<std::string>().empty() ? "\"\"" : k.fallback.get<std::string>();
  return k.fallback.dump();
}

}  // namespace

namespace detail {

void check_unknown_keys(Collector& c, const toml::table& t, const std::string& section) {
  const std::vector<std::string> known = keys_of(section);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (std::find(known.begin(), known.end(), key) == known.end())
      c.add(k.source(), "unknown key '" + key + "' in [" + section + "]" + did_you_mean(key, known));
  }
}

void read_host_keys(Collector& c, const toml::table* t, const std::string& section, Pipeline& p) {
  for (const Key& k : keys()) {
    if (k.section != section || !k.field.store) continue;
    json v;
    if (const toml::node* n = t ? t->get(k.key) : nullptr) {
      p.key_locs[section + "." + k.key] = c.loc(n->source());
      const std::string problem = check(k, *n, v);
      if (!problem.empty()) {
        c.add(n->source(), problem);
        v = nullptr;
      } else if (k.type == Type::Path && !v.get<std::string>().empty()) {
        v = resolve_path(k, v.get<std::string>(), p);
      }
    }
    const bool absent = v.is_null() || (k.computed && v == "");
    if (absent) v = k.computed ? k.computed(p) : k.fallback;
    if (!v.is_null()) k.field.store(p, v);
  }
}

json host_keys_json(const Pipeline& p, const std::string& section) {
  json j = json::object();
  for (const Key& k : keys())
    if (k.section == section && k.field.load) j[k.key] = k.field.load(p);
  return j;
}

}  // namespace detail

const std::vector<KeySpec>& pipeline_keys() {
  static const std::vector<KeySpec> specs = [] {
    std::vector<KeySpec> out;
    for (const Key& k : keys())
      out.push_back({k.section, k.key, type_name(k.type), shown_default(k), check_text(k), k.doc});
    return out;
  }();
  return specs;
}

std::string pipeline_keys_markdown() {
  std::string out, section;
  for (const KeySpec& k : pipeline_keys()) {
    if (k.section != section) {
      section = k.section;
      out += (out.empty() ? "" : "\n") + ("### [" + section + "]\n\n") +
             "| key | type | default | check | meaning |\n|---|---|---|---|---|\n";
    }
    out += "| `" + k.key + "` | " + k.type + " | `" + k.default_value + "` | " + k.check + " | " + k.doc + " |\n";
  }
  return out;
}

}  // namespace difss
