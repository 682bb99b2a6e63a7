#pragma once
// Glue between libbpf's C API and the agent's error model: captured libbpf logs, RAII
// handles, privilege checks. Everything that touches a libbpf handle goes through here.
#include <bpf/libbpf.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace flowattr::agent {

// While alive, libbpf's messages on this thread are collected (the verifier log among
// them) instead of printed, so an Error can carry them. libbpf's "try raising ulimit -l"
// hint is dropped: on memcg-accounted kernels it names the wrong cause.
class LibbpfLogCapture {
public:
    LibbpfLogCapture();
    ~LibbpfLogCapture();
    LibbpfLogCapture(const LibbpfLogCapture&) = delete;
    LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
    const std::string& text() const { return text_; }
    void append(const std::string& s) { text_ += s; }

private:
    std::string text_;
    LibbpfLogCapture* previous_;
};

// Installs the print callback once: warnings go to stderr unless a capture is active.
void install_libbpf_logging(bool verbose);

struct BpfObjectDeleter {
    void operator()(bpf_object* obj) const { bpf_object__close(obj); }
};
using BpfObject = std::unique_ptr<bpf_object, BpfObjectDeleter>;

// bpf_object__open_mem under NAME: null (errno set, libbpf's words in any active capture)
// when libbpf cannot open the bytes. Nothing is loaded into the kernel.
BpfObject open_bpf_object(const std::string& name, std::string_view bytes);

struct BpfLinkDeleter {
    void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDeleter>;

// The one owner of a bpftool skeleton, in the product and the tests alike: Skel::destroy is
// the C++ member bpftool generates next to skel__destroy. Declared before the links that
// attach its programs, it outlives them.
template <class Skel>
struct SkeletonDeleter {
    void operator()(Skel* skel) const { Skel::destroy(skel); }
};
template <class Skel>
using Skeleton = std::unique_ptr<Skel, SkeletonDeleter<Skel>>;

struct RingBufferDeleter {
    void operator()(ring_buffer* ring) const { ring_buffer__free(ring); }
};
using RingBuffer = std::unique_ptr<ring_buffer, RingBufferDeleter>;

// One line naming what is missing ("needs root: missing CAP_BPF, CAP_NET_ADMIN"), or
// nothing when the process may load and attach BPF programs.
std::optional<std::string> missing_privileges();

// Sum of one index of a per-CPU __u64 array map.
std::uint64_t sum_percpu_counter(int map_fd, std::uint32_t index);

// Throws flowattr::Error for a libbpf call that returned a negative errno, naming the step
// and carrying what libbpf logged meanwhile.
void check_libbpf(int ret, const std::string& what, const LibbpfLogCapture& log);

}  // namespace flowattr::agent
