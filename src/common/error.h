#pragma once
// The one error type the libraries throw: what was being done, the errno, and any log
// (a verifier log, a child's stderr) kept as a value so callers can print it whole or cut.
#include <stdexcept>
#include <string>

namespace flowattr {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what, int err = 0, std::string log = {});

    int err() const { return err_; }
    const std::string& log() const { return log_; }

private:
    int err_;
    std::string log_;
};

// Bad input the user gave (a flag's value, an interface, namespace or cgroup that does not
// exist, a malformed kernels.txt): the commands report it as a usage error, exit 2, by its
// type rather than by its message.
class BadInputError : public Error {
public:
    using Error::Error;
};

inline constexpr int kEnotsupp = 524;
// strerror(err), with a text for the errnos libc does not know: the kernel-internal ENOTSUPP and
// libbpf's own (4000-4013, LIBBPF_ERRNO__*).
std::string errno_message(int err);
// "what: errno_message(err) (errno N)" — never a bare errno.
std::string describe_errno(const std::string& what, int err);

}  // namespace flowattr
