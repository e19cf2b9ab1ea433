// The folder reader's class -> folders mapping; see class_map.hpp.
#include "class_map.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "dataset_common.hpp"

namespace difss::data::detail {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

void ClassMap::add(const std::string& cls, std::string folder, const std::string& source) {
  while (!folder.empty() && folder.back() == '/') folder.pop_back();
  if (cls.empty() || folder.empty()) throw std::invalid_argument(source + ": empty class or folder name");
  const auto [it, fresh] = folder_class_.emplace(folder, cls);
  if (!fresh && it->second != cls)
    throw std::invalid_argument(source + ": folder '" + folder + "' is listed for classes '" + it->second + "' and '" +
                                cls + "'");
}

ClassMap::ClassMap(const DatasetConfig& cfg, const std::filesystem::path& root) {
  std::string text = option_str(cfg, "class_map", "");
  std::string source = "option class_map";
  if (text.empty() || text.front() != '{') {  // a file name, not an inline table
    const auto path = option_path(cfg, "class_map", root);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument(cfg.kind + ": cannot read class_map file '" + path.string() + "'");
    std::ostringstream os;
    os << in.rdbuf();
    text = os.str();
    source = "class_map file '" + path.string() + "'";
  }
  if (!trim(text).empty() && trim(text).front() == '{') {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) throw std::invalid_argument(source + ": not a JSON object {\"class\": [\"folder\", ...]}");
    for (const auto& [cls, folders] : j.items()) {
      if (folders.is_string()) {
        add(cls, folders.get<std::string>(), source);
        continue;
      }
      if (!folders.is_array()) throw std::invalid_argument(source + ": class '" + cls + "' must list folders");
      for (const auto& f : folders) {
        if (!f.is_string()) throw std::invalid_argument(source + ": class '" + cls + "' lists a non-string folder");
        add(cls, f.get<std::string>(), source);
      }
    }
  } else {
    std::istringstream lines(text);
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      line = trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos)
        throw std::invalid_argument(source + ":" + std::to_string(n) + ": expected 'class: folder folder ...'");
      const std::string cls = trim(line.substr(0, colon));
      std::string rest = line.substr(colon + 1);
      for (auto& c : rest)
        if (c == ',') c = ' ';
      std::istringstream folders(rest);
      bool any = false;
      for (std::string f; folders >> f; any = true) add(cls, f, source + ":" + std::to_string(n));
      if (!any) throw std::invalid_argument(source + ":" + std::to_string(n) + ": class '" + cls + "' lists no folder");
    }
  }
  if (folder_class_.empty()) throw std::invalid_argument(source + " maps no folder to a class");
}

std::string ClassMap::class_of(const std::string& rel_dir) const {
  std::string d = rel_dir;
  for (;;) {
    const auto it = folder_class_.find(d);
    if (it != folder_class_.end()) return it->second;
    const auto slash = d.rfind('/');
    if (slash == std::string::npos) return {};
    d.resize(slash);
  }
}

}  // namespace difss::data::detail
