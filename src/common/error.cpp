#include "common/error.h"

#include <cstring>

namespace flowattr {

Error::Error(const std::string& what, int err, std::string log)
    : std::runtime_error(err ? describe_errno(what, err) : what), err_(err), log_(std::move(log)) {}

std::string describe_errno(const std::string& what, int err) {
    if (err < 0) err = -err;
    return what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
}

}  // namespace flowattr
