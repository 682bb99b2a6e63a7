#pragma once
// Reading the environment: a variable's value, or a fallback when it is unset or empty.
#include <cstdlib>
#include <string>

namespace flowattr {

inline std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

}  // namespace flowattr
