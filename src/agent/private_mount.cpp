#include "agent/private_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"

namespace flowattr::agent {

PrivateMount::PrivateMount(std::string dir, const std::string& fstype) : dir_(std::move(dir)) {
    const std::string parent = dir_.substr(0, dir_.rfind('/'));
    if (mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) throw Error("cannot create " + parent, errno);
    if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) throw Error("cannot create " + dir_, errno);
    struct stat here {}, above {};
    if (stat(dir_.c_str(), &here) != 0 || stat(parent.c_str(), &above) != 0) throw Error("cannot stat " + dir_, errno);
    // Never mount over something: a directory on another device than its parent is a
    // mount point already.
    if (here.st_dev != above.st_dev) throw Error(dir_ + " is already a mount point; not mounting " + fstype + " over it");
    if (mount(fstype.c_str(), dir_.c_str(), fstype.c_str(), MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        throw Error("cannot mount " + fstype + " at " + dir_, errno);
}

PrivateMount::~PrivateMount() {
    umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
}

}  // namespace flowattr::agent
