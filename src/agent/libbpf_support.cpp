#include "agent/libbpf_support.h"

#include <bpf/bpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <vector>

#include "common/error.h"

namespace flowattr::agent {
namespace {

thread_local LibbpfLogCapture* active_capture = nullptr;
bool verbose_logging = false;

int print_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
    char buf[8192];
    int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
    if (n < 0) return 0;
    std::string line(buf, std::min<std::size_t>(std::size_t(n), sizeof(buf) - 1));
    if (line.find("ulimit -l") != std::string::npos) return 0;
    if (active_capture) {
        if (level != LIBBPF_DEBUG || verbose_logging) active_capture->append(line);
        return 0;
    }
    if (level == LIBBPF_DEBUG && !verbose_logging) return 0;
    std::fputs(line.c_str(), stderr);
    return 0;
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() : previous_(active_capture) {
    static std::once_flag installed;
    std::call_once(installed, [] { libbpf_set_print(print_libbpf); });
    active_capture = this;
}
LibbpfLogCapture::~LibbpfLogCapture() { active_capture = previous_; }

void install_libbpf_logging(bool verbose) {
    verbose_logging = verbose;
    libbpf_set_print(print_libbpf);
}

BpfObject open_bpf_object(const std::string& name, std::string_view bytes) {
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name.c_str());
    return BpfObject(bpf_object__open_mem(bytes.data(), bytes.size(), &opts));
}

std::optional<std::string> missing_privileges() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &header, data) != 0) return "cannot read this process's capabilities";
    auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
    constexpr int kCapBpf = 39;      // Linux 5.8; CAP_SYS_ADMIN covers it on older kernels
    constexpr int kCapPerfmon = 38;  // Linux 5.8
    bool sys_admin = has(CAP_SYS_ADMIN);
    std::vector<std::string> missing;
    if (!sys_admin && !has(kCapBpf)) missing.push_back("CAP_BPF");
    if (!sys_admin && !has(kCapPerfmon)) missing.push_back("CAP_PERFMON");
    if (!has(CAP_NET_ADMIN)) missing.push_back("CAP_NET_ADMIN");
    if (missing.empty()) return std::nullopt;
    std::string msg = geteuid() == 0 ? "missing " : "needs root: missing ";
    for (std::size_t i = 0; i < missing.size(); i++) msg += (i ? ", " : "") + missing[i];
    return msg;
}

std::uint64_t sum_percpu_counter(int map_fd, std::uint32_t index) {
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw Error("cannot count possible CPUs", -cpus);
    std::vector<std::uint64_t> values(std::size_t(cpus), 0);
    if (bpf_map_lookup_elem(map_fd, &index, values.data()) != 0)
        throw Error("cannot read counter " + std::to_string(index), errno);
    std::uint64_t sum = 0;
    for (auto v : values) sum += v;
    return sum;
}

void check_libbpf(int ret, const std::string& what, const LibbpfLogCapture& log) {
    if (ret < 0) throw Error(what, -ret, log.text());
}

}  // namespace flowattr::agent
