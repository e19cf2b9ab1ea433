// `difss-host plugins list [--verbose]` and `difss-host plugins inspect ID`.
#include <difss/core/schema.hpp>

#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace difss::cli {

int plugins_list(const Registry& reg, bool verbose) {
  auto plugins = reg.plugins();
  std::printf("%-10s %-44s %-9s %s\n", "KIND", "ID", "VERSION", "NAME");
  for (const PluginInfo* p : plugins)
    std::printf("%-10s %-44s %-9s %s\n", kind_name(p->descriptor->kind), p->id.c_str(),
                p->descriptor->version, p->descriptor->name);
  size_t rejected = 0;
  for (const auto& l : reg.libraries()) rejected += !l.accepted;
  std::printf("\n%zu plugin(s) from %zu librar%s; %zu rejected candidate(s)%s\n", plugins.size(),
              reg.libraries().size() - rejected, reg.libraries().size() - rejected == 1 ? "y" : "ies",
              rejected, verbose || rejected == 0 ? "" : " (see --verbose)");
  if (!verbose) return kExitOk;

  std::printf("\nSearch path (in order):\n");
  for (const auto& d : reg.search_path()) std::printf("  %s\n", d.string().c_str());
  std::printf("\nLibraries:\n");
  for (const auto& l : reg.libraries()) {
    if (l.accepted) {
      std::printf("  accepted  %s\n", l.path.string().c_str());
      for (const auto& id : l.plugin_ids) std::printf("              provides %s\n", id.c_str());
      for (const auto& w : l.warnings) std::printf("              skipped  %s\n", w.c_str());
    } else {
      std::printf("  REJECTED  %s\n              reason: %s\n", l.path.string().c_str(),
                  l.reason.c_str());
    }
  }
  return kExitOk;
}

int plugins_inspect(const Registry& reg, const std::string& id) {
  const PluginInfo* p = reg.find(id);
  if (!p) {
    std::string hint;
    for (const auto& s : reg.suggest(id)) hint += (hint.empty() ? "" : ", ") + s;
    std::cerr << "difss-host: no plugin with id '" << id << "'"
              << (hint.empty() ? std::string("; see `difss-host plugins list --verbose`")
                               : "; did you mean: " + hint)
              << "\n";
    return kExitConfig;
  }
  const Descriptor& d = *p->descriptor;
  std::printf("%s\n  name:        %s\n  kind:        %s\n  version:     %s\n  library:     %s\n",
              d.id, d.name, kind_name(d.kind), d.version, p->library.string().c_str());
  if (d.description && *d.description) std::printf("  description: %s\n", d.description);
  if (const auto* f = d.fingerprint)
    std::printf("  built with:  %s, cxx11 abi %d, LibTorch %s, SDK %s\n", f->compiler, f->cxx11_abi,
                f->torch_version && *f->torch_version ? f->torch_version : "(none)", f->sdk_version);
  std::printf("\nParameters:\n");
  if (d.param_count == 0) std::printf("  (none)\n");
  for (uint32_t i = 0; i < d.param_count; ++i) {
    const auto& s = d.params[i];
    std::string def = (s.flags & DIFSS_PARAM_FLAG_REQUIRED) ? "(required)" : format_value(s.default_value);
    std::printf("  %-20s %-36s default %s\n", s.name, describe_type(s).c_str(), def.c_str());
    if (s.doc && *s.doc) std::printf("  %-20s %s\n", "", s.doc);
  }
  std::printf("\nPorts:\n");
  for (uint32_t i = 0; i < d.port_count; ++i) {
    const auto& port = d.ports[i];
    std::printf("  %-4s %-18s %-8s %s\n", port.dir == DIFSS_PORT_IN ? "in" : "out", port.name,
                port.format, port.doc ? port.doc : "");
  }
  return kExitOk;
}

}  // namespace difss::cli
