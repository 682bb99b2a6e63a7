#pragma once
// The build tree this test binary sits in (BUILD/tests/unit/flowattr_unit_tests) and the
// source tree CMake configured it from, found at run time from /proc/self/exe and
// BUILD/CMakeCache.txt rather than compiled in: out/ must hold the same bytes wherever it
// was built. A binary copied out of its build tree fails the tests that need fixtures,
// naming why.
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>

namespace fa::test {

inline std::string build_dir() {
    static const std::string dir = [] {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        std::string path = n > 0 ? std::string(exe, std::size_t(n)) : std::string();
        for (int up = 0; up < 3 && !path.empty(); up++) path = path.substr(0, path.rfind('/'));
        if (path.empty() || !std::ifstream(path + "/CMakeCache.txt"))
            throw std::runtime_error("this test binary is not inside its CMake build tree (" + std::string(exe, n > 0 ? std::size_t(n) : 0) +
                                     "): run it from BUILD/tests/unit/");
        return path;
    }();
    return dir;
}

inline std::string source_dir() {
    static const std::string dir = [] {
        std::ifstream cache(build_dir() + "/CMakeCache.txt");
        const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
        std::string line;
        while (std::getline(cache, line))
            if (line.rfind(key, 0) == 0) return line.substr(key.size());
        throw std::runtime_error("no " + key + " in " + build_dir() + "/CMakeCache.txt");
    }();
    return dir;
}

}  // namespace fa::test
