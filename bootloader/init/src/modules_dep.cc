#include "init/modules_dep.h"

#include <fmt/format.h>

#include <functional>
#include <set>

#include "common/line_reader.h"
#include "common/root_dir.h"

namespace basalt::init {

std::string ModuleName(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t ko = base.find(".ko");
  if (ko != std::string_view::npos) base = base.substr(0, ko);
  std::string name(base);
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

Result<ModuleGraph> ParseModulesDep(std::string_view text) {
  ModuleGraph graph;
  LineReader lines(text);
  std::string_view line;
  while (lines.Next(&line)) {
    const int line_no = lines.line_no();
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Failf(ErrorKind::kInvalidInput, "modules.dep line {}: expected 'path: deps...'",
                   line_no);
    }
    // Paths are below /lib/modules/<version>: the initramfs builder copies the files they name
    // out of an untrusted tree, so an absolute path or a '..' is refused, not resolved.
    const std::string where = fmt::format("modules.dep line {}", line_no);
    BASALT_ASSIGN_OR_RETURN(std::string path, CleanRelativePath(line.substr(0, colon), where));
    ModuleInfo info{.path = std::move(path), .deps = {}};
    for (std::string_view dep : SplitWords(line.substr(colon + 1))) {
      BASALT_RETURN_IF_ERROR(CleanRelativePath(dep, where));
      info.deps.push_back(ModuleName(dep));
    }
    std::string name = ModuleName(info.path);
    if (!graph.emplace(name, std::move(info)).second) {
      return Failf(ErrorKind::kInvalidInput, "modules.dep line {}: module {} listed twice", line_no,
                   name);
    }
  }
  return graph;
}

Result<LoadPlan> PlanModuleLoad(const ModuleGraph& graph, const std::vector<std::string>& wanted) {
  LoadPlan plan;
  std::set<std::string> done;
  std::set<std::string> visiting;
  std::function<Status(const std::string&, const std::string&)> visit =
      [&](const std::string& name, const std::string& parent) -> Status {
    if (done.count(name)) return {};
    auto it = graph.find(name);
    if (it == graph.end()) {
      return Failf(ErrorKind::kInvalidInput, "modules.dep: {} needs {}, which it does not list",
                   parent, name);
    }
    if (!visiting.insert(name).second) {
      return Failf(ErrorKind::kInvalidInput, "modules.dep: dependency cycle through {}", name);
    }
    for (const std::string& dep : it->second.deps)
      BASALT_RETURN_IF_ERROR(visit(dep, name));
    visiting.erase(name);
    done.insert(name);
    plan.paths.push_back(it->second.path);
    return {};
  };
  for (const std::string& w : wanted) {
    std::string name = ModuleName(w);
    if (!graph.count(name)) {
      plan.missing.push_back(name);
      continue;
    }
    BASALT_RETURN_IF_ERROR(visit(name, name));
  }
  return plan;
}

}  // namespace basalt::init
