#pragma once
// The kernel cache: fetches the artifacts a kernels.txt entry pins, verifies their sha256,
// and keeps both them and the extracted boot files, content-addressed:
//
//   <root>/lock                    flock: one fetch at a time per cache (apt state is shared too)
//   <root>/artifacts/<sha256>      downloaded .deb / vmlinuz / config, named by their hash
//   <root>/kernels/<key>/          vmlinuz, vmlinux (x86_64: its kernel for a PVH boot), config,
//                                  modules/*.ko, channel-modules/*.ko, busybox,
//                                  MANIFEST (sha256 of each file, release, how it boots)
//                                  key = sha256 of the entry's source + pins, so two entries
//                                  with the same packages (5.10, 5.10-nolsm) share one tree
//   <root>/apt/                    the private apt configuration, lists and archives
//   <root>/tmp/                    staging; anything here is garbage once the lock is held
//
// Every file is written under tmp/ and renamed into place; every use re-checks sha256.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "matrix/kernel_list.h"

namespace flowattr::matrix {

struct KernelImage {
    KernelEntry entry;
    std::string vmlinuz;      // absolute path in the cache
    std::string config;       // path to the kernel's config ("" when the source has none)
    std::string modules_dir;  // flat dir: sch_ingress.ko cls_bpf.ko veth.ko + their dependencies, decompressed
    std::string image_sha256; // sha256 of vmlinuz
    std::string release;      // uname -r of the kernel, e.g. "6.1.0-50-cloud-amd64"
    std::vector<std::string> modules;  // file names in modules_dir
    // What the results channel needs before anything else runs (guest_arch.h): a flat dir of
    // .ko files, empty when the kernel builds them in.
    std::string channel_modules_dir;
    std::string busybox;  // the source's own static busybox; "" when it names none
    // The ELF kernel unpacked from vmlinuz that QEMU starts at its PVH entry (bzimage.h); ""
    // when QEMU boots vmlinuz itself, which `boot` then says why.
    std::string pvh_vmlinux;
    std::string boot;  // "pvh: vmlinux, the zstd payload of vmlinuz", "vmlinuz", "vmlinuz (no PVH boot: ...)"
};

enum class FetchStatus { ok, unavailable, unsupported };
const char* fetch_status_name(FetchStatus status);

struct FetchResult {
    FetchStatus status = FetchStatus::unavailable;
    KernelImage image;   // filled for ok and unsupported (the files exist, the kernel lacks an option)
    std::string reason;  // why unavailable/unsupported (e.g. "CONFIG_BPF_LSM is not set"); a note for ok
};

using ProgressFn = std::function<void(const std::string& kernel, const std::string& message)>;

// What `kmatrix list` shows without fetching anything.
enum class CacheState { cached, partial, missing, no_source };
const char* cache_state_name(CacheState state);

class KernelCache {
public:
    KernelCache(std::string root /* $FLOWATTR_CACHE or ~/.cache/flowattr */, bool offline);

    // Throws flowattr::Error only for infrastructure failures (disk, lock, missing tools) and
    // ChecksumError for a download that is not the pinned bytes. A source that cannot be
    // reached is FetchStatus::unavailable with the reason.
    FetchResult fetch(const KernelEntry& entry, const ProgressFn& progress = {});

    // A url: download stops within about a second once FLAG is set (kmatrix's signal handler),
    // its bytes kept for the next fetch to resume; the fetch then fails as interrupted.
    void cancel_on(const std::atomic<bool>& flag) { cancel_ = &flag; }

    // Read-only look at the cache, no lock, no hashing: for listings.
    CacheState state(const KernelEntry& entry) const;

    const std::string& root() const { return root_; }
    static std::string default_root();

    // Where the private apt configuration lives, for messages telling users how to re-pin.
    std::string apt_dir() const { return root_ + "/apt"; }

private:
    std::string artifact_path(const std::string& sha256) const { return root_ + "/artifacts/" + sha256; }
    std::string tree_dir(const KernelEntry& entry) const;
    std::string tmp_dir() const { return root_ + "/tmp"; }
    // Downloads the packages with one apt-get call into artifacts/<sha256>.
    void fetch_debs(const KernelEntry& entry, const std::vector<SourceItem>& items, const ProgressFn& progress) const;
    // Downloads (url:) or copies (file:) one artifact into artifacts/<sha256>; DownloadError when unreachable.
    void fetch_artifact(const KernelEntry& entry, const SourceItem& item, const ProgressFn& progress) const;
    // Result for a verified tree: ok, or unsupported when the config lacks an option.
    FetchResult finish(const KernelEntry& entry, const std::string& dir,
                       const std::function<void(const std::string&)>& say) const;

    std::string root_;
    const std::atomic<bool>* cancel_ = nullptr;
    bool offline_;
};

// Kernel options the agent cannot work without: BPF_SYSCALL, DEBUG_INFO_BTF, BPF_LSM,
// CGROUP_BPF, NET_CLS_BPF, NET_SCH_INGRESS, VETH. Returns the missing ones, as
// "CONFIG_X is not set".
std::vector<std::string> missing_kernel_options(const std::string& config_text);

// The apt command line prefix using the cache's private configuration (no machine state read
// or written), for users who want to look up a new pin: apt_base_argv(cache) + {"show", PKG}.
std::vector<std::string> apt_base_argv(const std::string& apt_dir, const std::string& tool);

}  // namespace flowattr::matrix
