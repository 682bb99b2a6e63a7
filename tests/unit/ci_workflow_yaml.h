#pragma once
// Reading ci/*.yml the way the CI tests need it: as JSON through PyYAML (GitHub's own
// parser cannot run here), and why a program is missing when it is. Shared by the unit tests
// of the workflows (ci_workflow_test.cpp) and the kernel job run for real
// (tests/kernel/ci_kernel_job_matrix.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/subprocess.h"

namespace fa::test {

// Why a program cannot be started here ("" when it can): run_command throws only then.
inline std::string missing_program(const std::vector<std::string>& argv, const std::string& installed_by) {
    try {
        flowattr::run_command(argv);
        return "";
    } catch (const flowattr::Error& e) {
        return "no " + argv[0] + " (" + installed_by + "): " + e.what();
    }
}

// A workflow as JSON, read by PyYAML (GitHub's own parser cannot run here). Sets `why` when
// PyYAML cannot be used.
inline nlohmann::json workflow_as_json(const std::string& path, std::string& why) {
    const std::vector<std::string> argv = {"python3", "-c",
                                           "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path};
    why = missing_program({"python3", "--version"}, "make deps installs it");
    if (!why.empty()) return nullptr;
    const flowattr::RunResult r = flowattr::run_command(argv);
    if (r.err.find("No module named 'yaml'") != std::string::npos) {
        why = "no PyYAML (python3-yaml, pinned in docker/host.lock; make deps installs it)";
        return nullptr;
    }
    if (!r.ok()) {
        ADD_FAILURE() << flowattr::format_argv(argv) << " " << r.status_text() << ": " << r.err;
        return nullptr;
    }
    return nlohmann::json::parse(r.out);
}

}  // namespace fa::test
