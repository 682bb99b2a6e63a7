#include "agent/procfs.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace flowattr::agent {
namespace {

bool is_hex_id(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c)))
            return false;
    return true;
}

}  // namespace

std::optional<std::string> read_proc_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return ss.str();
}

std::optional<std::uint32_t> parse_status_real_uid(const std::string& status) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Uid:", 0) != 0) continue;
        std::istringstream fields(line.substr(4));
        unsigned long uid = 0;
        if (fields >> uid && uid <= 0xffffffffUL) return std::uint32_t(uid);
        return std::nullopt;
    }
    return std::nullopt;
}

std::string parse_cgroup_v2_path(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("0::", 0) == 0) return line.substr(3);
    return {};
}

std::string container_id_from_cgroup(const std::string& path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        std::string part = path.substr(start, end - start);
        if (part.size() > 6 && part.compare(part.size() - 6, 6, ".scope") == 0) part.resize(part.size() - 6);
        auto dash = part.rfind('-');
        std::string candidate = dash == std::string::npos ? part : part.substr(dash + 1);
        if (is_hex_id(candidate)) return candidate;
        start = end + 1;
    }
    return {};
}

std::optional<std::uint64_t> parse_stat_start_ticks(const std::string& stat) {
    auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream in(stat.substr(close + 1));
    std::string field;
    // After "pid (comm)" come fields 3..; starttime is field 22.
    for (int index = 3; index <= 22; index++) {
        if (!(in >> field)) return std::nullopt;
    }
    try {
        return std::stoull(field);
    } catch (...) {
        return std::nullopt;
    }
}

char parse_stat_state(const std::string& stat) {
    auto close = stat.rfind(") ");
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

bool process_alive(std::uint32_t pid, std::uint64_t start_time_ns, const std::string& proc_root) {
    auto stat = read_proc_file(proc_root + "/" + std::to_string(pid) + "/stat");
    if (!stat) return false;
    // A zombie has exited; only its parent has not collected it yet.
    const char state = parse_stat_state(*stat);
    if (state == 'Z' || state == 'X') return false;
    if (!start_time_ns) return true;
    auto ticks = parse_stat_start_ticks(*stat);
    long hz = sysconf(_SC_CLK_TCK);
    if (!ticks || hz <= 0) return false;
    // /proc reports whole clock ticks: compare at that resolution.
    std::uint64_t tick_ns = 1000000000ull / std::uint64_t(hz);
    std::uint64_t proc_ticks = *ticks;
    std::uint64_t bpf_ticks = start_time_ns / tick_ns;
    return proc_ticks + 1 >= bpf_ticks && bpf_ticks + 1 >= proc_ticks;
}

ProcessInfo read_process_info(std::uint32_t pid, std::uint64_t start_time_ns, const std::string& proc_root) {
    ProcessInfo info;
    info.pid = pid;
    if (!process_alive(pid, start_time_ns, proc_root)) return info;
    std::string dir = proc_root + "/" + std::to_string(pid);
    info.alive = true;
    if (auto comm = read_proc_file(dir + "/comm")) {
        info.comm = *comm;
        while (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
    }
    char buf[4096];
    ssize_t n = readlink((dir + "/exe").c_str(), buf, sizeof(buf) - 1);
    if (n > 0) info.exe.assign(buf, std::size_t(n));
    if (auto cg = read_proc_file(dir + "/cgroup")) {
        info.cgroup_path = parse_cgroup_v2_path(*cg);
        info.container_id = container_id_from_cgroup(info.cgroup_path);
    }
    return info;
}

}  // namespace flowattr::agent
