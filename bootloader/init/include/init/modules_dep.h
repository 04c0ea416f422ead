// Kernel module load order from modules.dep (as `depmod -b ROOT VERSION` writes it): every
// module after the modules it depends on, e.g. virtio_ring before virtio before virtio_blk.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::init {

struct ModuleInfo {
  std::string path;               // relative to /lib/modules/<version>
  std::vector<std::string> deps;  // module names
};

// Module name as the kernel knows it: basename without .ko[.xz|.zst|.gz], '-' as '_'.
std::string ModuleName(std::string_view path);

using ModuleGraph = std::map<std::string, ModuleInfo>;  // by module name

Result<ModuleGraph> ParseModulesDep(std::string_view text);

// Load order (paths) for `wanted` and their dependencies, dependencies first, each module once;
// `wanted` names missing from the graph are returned in `missing` (built-in or absent).
// Fails on a dependency cycle or a dependency that modules.dep does not list.
struct LoadPlan {
  std::vector<std::string> paths;
  std::vector<std::string> missing;
};
Result<LoadPlan> PlanModuleLoad(const ModuleGraph& graph, const std::vector<std::string>& wanted);

}  // namespace basalt::init
