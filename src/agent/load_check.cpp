#include "agent/load_check.h"

#include "agent/embedded_objects.h"
#include "agent/task_sockets.h"

namespace flowattr::agent {
namespace {

// Programs the agent does without where the kernel lacks what they need (found by the
// probe), and what it does instead: skipped by the load check, not failed.
struct OptionalProgram {
    const char* section_prefix;
    const char* feature;
    const char* what;
    const char* instead;
};
constexpr OptionalProgram kOptionalPrograms[] = {
    {"tcx/", "tcx", "TCX", "the agent attaches the tc pair instead"},
    {"iter/task_file", kFeatureTaskWalk, "task walk",
     "the agent finds pre-existing sockets through /proc and pidfd_getfd instead"},
};

}  // namespace

std::vector<ProgramCheck> load_check_all(const KernelFeatures& features) {
    CheckOptions options;
    options.attach = false;
    options.skip = [&features](const std::string& section) -> std::optional<std::string> {
        for (const auto& p : kOptionalPrograms) {
            if (section.rfind(p.section_prefix, 0) != 0 || features.has(p.feature)) continue;
            const FeatureCheck* probed = features.find(p.feature);
            return std::string("no ") + p.what + " on this kernel (" +
                   (probed ? probed->detail : std::string("not probed")) + "); " + p.instead;
        }
        return std::nullopt;
    };
    ObjectChecker checker(options);
    std::vector<ProgramCheck> results;
    for (const auto& object : embedded_objects()) {
        auto r = checker.check(ObjectBytes{object.name, "embedded:" + object.name,
                                           std::string_view(static_cast<const char*>(object.data), object.size)});
        results.insert(results.end(), r.begin(), r.end());
    }
    return results;
}

}  // namespace flowattr::agent
