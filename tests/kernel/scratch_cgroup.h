#pragma once
// A scratch cgroup v2 directory under ROOT, removed again at the end.
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace fa::test {

class ScratchCgroup {
public:
    explicit ScratchCgroup(const std::string& root) : path_(root + "/fa-test-" + std::to_string(getpid())) {
        ok_ = mkdir(path_.c_str(), 0755) == 0;
    }
    ~ScratchCgroup() {
        if (ok_) rmdir(path_.c_str());
    }
    ScratchCgroup(const ScratchCgroup&) = delete;
    ScratchCgroup& operator=(const ScratchCgroup&) = delete;
    bool ok() const { return ok_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    bool ok_ = false;
};

}  // namespace fa::test
