#pragma once
// What every benchmark of `make bench` needs alike: the median it reports, a process's peak
// memory and CPU, and its keys in out/bench/results.json (one file for all: the datapath benchmark
// writes it whole, the others each set their own keys in it).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.h"

namespace fa::bench {

inline double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values.empty() ? 0 : values[values.size() / 2];
}

// VmHWM of PID (0: this process) in KiB from /proc; -1 when it cannot be read.
inline long vm_hwm_kib(pid_t pid = 0) {
    std::ifstream in("/proc/" + (pid ? std::to_string(pid) : std::string("self")) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

// CPU seconds (user and system) PID has used, from /proc/PID/stat.
inline double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string skip;
    for (int i = 3; i < 14; i++) fields >> skip;  // state ... cmajflt: fields 3 to 13
    double utime = 0, stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

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
