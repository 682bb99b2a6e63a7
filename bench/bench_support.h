#pragma once
// What every benchmark of `make bench` needs alike: the median it reports, a process's peak
// memory and CPU, a TCP socket listening for what it feeds the agent, and its keys in
// out/bench/results.json (one file for all: the datapath benchmark
// writes it whole, the others each set their own keys in it).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/unique_fd.h"

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

// A TCP socket listening on ADDR (network order) at a port the kernel picks.
struct ListeningSocket {
    flowattr::UniqueFd fd;
    std::uint16_t port = 0;
};
inline ListeningSocket listen_tcp(in_addr_t addr, int backlog) {
    ListeningSocket l{flowattr::UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))};
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = addr;
    socklen_t len = sizeof a;
    if (!l.fd || bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l.fd.get(), backlog) != 0 ||
        getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        char text[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &addr, text, sizeof text);
        throw flowattr::Error(std::string("cannot listen on ") + text, errno);
    }
    l.port = ntohs(a.sin_port);
    return l;
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
