#include "common/error.h"

#include <bpf/libbpf.h>

#include <cstring>

namespace flowattr {

Error::Error(const std::string& what, int err, std::string log)
    : std::runtime_error(err ? describe_errno(what, err) : what), err_(err), log_(std::move(log)) {}

std::string errno_message(int err) {
    if (err < 0) err = -err;
    // The kernel's own ENOTSUPP (include/linux/errno.h) leaks to user space from some BPF
    // attach paths (a trampoline the architecture cannot build); libc has no text for it.
    if (err == kEnotsupp) return "ENOTSUPP, the kernel's \"not supported\"";
    // libbpf's own errnos (a failed relocation, an object it cannot read), which libc calls
    // "Unknown error 4005": libbpf_strerror has their text.
    if (err >= __LIBBPF_ERRNO__START && err < __LIBBPF_ERRNO__END) {
        char text[128];
        libbpf_strerror(err, text, sizeof(text));
        return text;
    }
    return std::strerror(err);
}

std::string describe_errno(const std::string& what, int err) {
    if (err < 0) err = -err;
    return what + ": " + errno_message(err) + " (errno " + std::to_string(err) + ")";
}

}  // namespace flowattr
