#pragma once
// out/bench/results.json is one file for all of `make bench`: the datapath benchmark writes it
// whole, the live-traffic and matrix benchmarks each set their own keys in it.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/file.h"

namespace fa::bench {

// Sets KEY to VALUE in the JSON object at PATH, keeping every other key (a missing or
// unreadable file starts an empty object, in a directory made for it).
inline void merge_result(const std::string& path, const std::string& key, const nlohmann::json& value) {
    flowattr::make_directories(path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/')));
    nlohmann::json all = nlohmann::json::object();
    std::ifstream existing(path);
    if (existing) all = nlohmann::json::parse(existing, nullptr, false);
    if (!all.is_object()) all = nlohmann::json::object();
    all[key] = value;
    flowattr::write_file_atomic(path, all.dump(2) + "\n");
}

}  // namespace fa::bench
