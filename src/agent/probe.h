#pragma once
// What the running kernel offers flowattr, found by asking it (loading tiny programs,
// creating links), never by reading the version string.
#include <optional>
#include <string>
#include <vector>

namespace flowattr::agent {

// attach types newer than the build host's UAPI headers (Linux 6.6)
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

struct FeatureCheck {
    std::string name;    // "tcx", "ringbuf", "sk_storage.tc", ...
    bool available = false;
    std::string detail;  // why not, or where found
};

struct KernelFeatures {
    std::string release;
    std::vector<FeatureCheck> checks;

    bool has(const std::string& name) const;
    const FeatureCheck* find(const std::string& name) const;
};

KernelFeatures probe_kernel_features();

// "bpf" in /sys/kernel/security/lsm: a BPF LSM program that attaches elsewhere never runs.
bool bpf_lsm_active(std::string* lsm_list = nullptr);
// The cgroup v2 mount point from /proc/self/mounts ("/sys/fs/cgroup", or
// "/sys/fs/cgroup/unified" on hybrid hosts); empty if none.
std::string find_cgroup2_mount(const std::string& mounts_text);
std::string find_cgroup2_mount();
// Whether the verifier knows helper id HELPER at all, whatever program types may call it.
FeatureCheck probe_helper_exists(const std::string& name, int helper);
// bpf_sock_from_file (5.11): the start-up walk iter/task_file needs it.
inline constexpr const char* kFeatureSockFromFile = "helper.sock_from_file";
// Attach a trivial program with a TCX link on loopback and detach it again.
FeatureCheck probe_tcx();

std::string features_to_text(const KernelFeatures& features);
std::string features_to_json(const KernelFeatures& features);
// The inverse of features_to_json (checks in name order); nullopt if TEXT is not such a document.
std::optional<KernelFeatures> features_from_json(const std::string& text);
// features_from_json of the file at PATH; throws BadInputError naming it when it cannot be read or
// is not such a document.
KernelFeatures read_features(const std::string& path);

}  // namespace flowattr::agent
