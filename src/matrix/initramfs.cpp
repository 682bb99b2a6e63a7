#include "matrix/initramfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "common/env.h"
#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"
#include "matrix/guest_arch.h"
#include "matrix/vm_suite.h"
#include "verify/object_input.h"

namespace flowattr::matrix {

namespace {

std::string normalize(const std::string& path) {
    std::string p = path;
    while (!p.empty() && p.front() == '/') p.erase(p.begin());
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty() || p.find("//") != std::string::npos || p == "." || p.find("../") != std::string::npos ||
        p.rfind("..", 0) == 0)
        throw Error("invalid initramfs path '" + path + "'");
    return p;
}

void append_hex8(std::string& out, std::uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08X", v);
    out.append(buf, 8);
}

void pad4(std::string& out) {
    while (out.size() % 4) out.push_back('\0');
}

void append_entry(std::string& out, std::uint32_t ino, std::uint32_t mode, std::uint32_t nlink, std::uint32_t mtime,
                  const std::string& name, const std::string& data, std::uint32_t rmaj, std::uint32_t rmin) {
    out += "070701";
    append_hex8(out, ino);
    append_hex8(out, mode);
    append_hex8(out, 0);  // uid
    append_hex8(out, 0);  // gid
    append_hex8(out, nlink);
    append_hex8(out, mtime);
    append_hex8(out, std::uint32_t(data.size()));
    append_hex8(out, 0);  // dev major
    append_hex8(out, 0);  // dev minor
    append_hex8(out, rmaj);
    append_hex8(out, rmin);
    append_hex8(out, std::uint32_t(name.size() + 1));
    append_hex8(out, 0);  // check: unused by newc
    out += name;
    out.push_back('\0');
    pad4(out);
    out += data;
    pad4(out);
}

struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};

std::vector<std::string> list_modules(const std::string& dir) {
    std::unique_ptr<DIR, DirCloser> d(opendir(dir.c_str()));
    if (!d) throw Error("cannot open modules directory " + dir, errno);
    std::vector<std::string> names;
    while (dirent* e = readdir(d.get())) {
        std::string n = e->d_name;
        if (n.size() > 3 && n.compare(n.size() - 3, 3, ".ko") == 0) names.push_back(n);
    }
    return names;
}

}  // namespace

void CpioArchive::add_directory(const std::string& path, std::uint32_t mode) {
    entries_[normalize(path)] = Entry{S_IFDIR | (mode & 07777), {}};
}

void CpioArchive::add_file(const std::string& path, std::string data, std::uint32_t mode) {
    entries_[normalize(path)] = Entry{S_IFREG | (mode & 07777), std::move(data)};
}

void CpioArchive::add_host_file(const std::string& path, const std::string& host_path, std::uint32_t mode) {
    add_file(path, read_file(host_path), mode);
}

void CpioArchive::add_symlink(const std::string& path, const std::string& target) {
    entries_[normalize(path)] = Entry{S_IFLNK | 0777, target};
}

void CpioArchive::add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor,
                                  std::uint32_t mode) {
    entries_[normalize(path)] = Entry{S_IFCHR | (mode & 07777), {}, major, minor};
}

std::string CpioArchive::serialize(std::uint32_t mtime) const {
    // Implicit parents first, so the kernel never meets a file whose directory is missing.
    std::map<std::string, Entry> all = entries_;
    for (const auto& [path, entry] : entries_) {
        for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
            std::string parent = path.substr(0, slash);
            all.emplace(parent, Entry{S_IFDIR | 0755, {}});
        }
    }
    std::string out;
    std::size_t total = 0;
    for (const auto& [path, entry] : all) total += 112 + path.size() + entry.data.size() + 8;
    out.reserve(total + 128);
    // std::map iterates in byte order, and a directory sorts before its contents
    // ("bin" < "bin/sh"), so the order is both stable and unpack-safe.
    std::uint32_t ino = 1;
    for (const auto& [path, entry] : all) {
        bool dir = (entry.mode & S_IFMT) == S_IFDIR;
        append_entry(out, ino++, entry.mode, dir ? 2 : 1, mtime, path, entry.data, entry.rdev_major,
                     entry.rdev_minor);
    }
    append_entry(out, 0, 0, 1, 0, "TRAILER!!!", {}, 0, 0);
    // Pad to 512 like cpio(1) does; the kernel accepts either.
    while (out.size() % 512) out.push_back('\0');
    return out;
}

std::uint32_t reproducible_mtime() {
    const char* s = std::getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s) return 0;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno || *end || v > 0xffffffffULL) return 0;
    return std::uint32_t(v);
}

namespace {

// A 64-bit little-endian executable's (what the guests run) program headers as far as the
// guest cares: whether it has a PT_INTERP, and the loader it names there.
struct ExecutableInterp {
    bool dynamic = false;
    std::string interpreter;  // "" when there is none, or its bytes lie outside the file
};

// An ELF file opened with libelf (the descriptor kept open as long as the handle); elf is
// null when the file cannot be opened or libelf refuses it.
struct ElfFile {
    UniqueFd fd;
    std::unique_ptr<Elf, int (*)(Elf*)> elf{nullptr, elf_end};
    explicit ElfFile(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        elf_version(EV_CURRENT);
        if (fd) elf.reset(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
    }
};

std::optional<ExecutableInterp> read_interp(const std::string& path) {
    ElfFile file(path);
    Elf* const elf = file.elf.get();
    GElf_Ehdr ehdr;
    std::size_t count = 0;
    if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64 ||
        !gelf_getehdr(elf, &ehdr) || ehdr.e_ident[EI_DATA] != ELFDATA2LSB ||
        (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN /* static-pie */) || elf_getphdrnum(elf, &count) != 0)
        return std::nullopt;
    for (std::size_t i = 0; i < count; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, int(i), &ph)) return std::nullopt;
        if (ph.p_type != PT_INTERP) continue;
        ExecutableInterp r{true, ""};
        std::size_t size = 0;
        const char* raw = elf_rawfile(elf, &size);
        if (raw && ph.p_offset <= size && ph.p_filesz <= size - ph.p_offset) {
            r.interpreter.assign(raw + ph.p_offset, ph.p_filesz);
            r.interpreter.resize(std::strlen(r.interpreter.c_str()));
        }
        return r;
    }
    return ExecutableInterp{};
}

}  // namespace

ElfLinkage elf_linkage(const std::string& path) {
    std::optional<ExecutableInterp> exe = read_interp(path);
    if (!exe) return ElfLinkage::not_executable;
    return exe->dynamic ? ElfLinkage::dynamic_exe : ElfLinkage::static_exe;
}

namespace {

constexpr const char* kSystemLibraryDirs[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"};

// An ELF file's dynamic section as a loader reads it: DT_NEEDED names, DT_RUNPATH (or, when
// there is none, the older DT_RPATH) directories with $ORIGIN expanded.
struct DynamicNeeds {
    std::vector<std::string> needed;
    std::vector<std::string> search;
    bool search_is_rpath = false;  // DT_RPATH comes before LD_LIBRARY_PATH, DT_RUNPATH after it
};

DynamicNeeds read_dynamic(const std::string& path) {
    DynamicNeeds d;
    ElfFile file(path);
    if (!file.fd) throw Error("cannot open " + path, errno);
    Elf* const elf = file.elf.get();
    if (!elf) throw Error(path + ": " + elf_errmsg(-1));
    std::vector<std::string> runpath, rpath;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        Elf_Data* data = nullptr;
        if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC || sh.sh_entsize == 0 || !(data = elf_getdata(scn, nullptr)))
            continue;
        for (std::size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Dyn dyn;
            if (!gelf_getdyn(data, int(i), &dyn)) break;
            if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH) continue;
            const char* text = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
            if (!text) continue;
            if (dyn.d_tag == DT_NEEDED) {
                d.needed.emplace_back(text);
                continue;
            }
            std::istringstream dirs(text);
            for (std::string dir; std::getline(dirs, dir, ':');) {
                for (const char* origin : {"$ORIGIN", "${ORIGIN}"})
                    if (dir.rfind(origin, 0) == 0) dir = path.substr(0, path.rfind('/')) + dir.substr(std::strlen(origin));
                (dyn.d_tag == DT_RUNPATH ? runpath : rpath).push_back(dir);
            }
        }
    }
    d.search_is_rpath = runpath.empty() && !rpath.empty();
    d.search = d.search_is_rpath ? rpath : runpath;
    return d;
}

// Another architecture's executable cannot be traced by this machine's loader, so its
// libraries are looked up in the order its own loader looks (ld.so(8)), as in the guest, where
// there is no ld.so.cache: DT_RPATH, the caller's LD_LIBRARY_PATH (an unpacked sysroot's
// library directory, say), DT_RUNPATH, then the architecture's multiarch and plain system
// directories (where Debian's multiarch packages, libc6:arm64 and the like, put them). A file
// of another architecture on the way is passed over, as the loader passes it over.
std::vector<std::string> foreign_library_closure(const std::string& exe, const std::string& interp, Arch arch) {
    if (elf_arch(interp) != arch)
        throw Error(exe + " needs the " + arch_name(arch) + " loader " + interp + ", which this machine does not have " +
                    "(Debian: the libc6:" + guest_arch(arch).debian_arch + " package)");
    const std::string triplet = std::string(arch_name(arch)) + "-linux-gnu";
    const std::vector<std::string> system_dirs = {"/lib/" + triplet, "/usr/lib/" + triplet, "/lib", "/usr/lib"};
    std::vector<std::string> library_path;
    std::istringstream caller_path(env_or("LD_LIBRARY_PATH", ""));
    for (std::string dir; std::getline(caller_path, dir, ':');)
        if (!dir.empty()) library_path.push_back(dir);
    std::vector<std::string> files{interp}, missing, queue{exe};
    // libc names the loader as a library too; it is already there.
    std::set<std::string> seen{interp.substr(interp.rfind('/') + 1)};
    while (!queue.empty()) {
        const std::string object = queue.back();
        queue.pop_back();
        DynamicNeeds needs = read_dynamic(object);
        needs.search.insert(needs.search_is_rpath ? needs.search.end() : needs.search.begin(), library_path.begin(),
                            library_path.end());
        needs.search.insert(needs.search.end(), system_dirs.begin(), system_dirs.end());
        for (const auto& name : needs.needed) {
            if (!seen.insert(name).second) continue;
            std::string found;
            for (const auto& dir : needs.search) {
                const std::string candidate = name.find('/') == std::string::npos ? dir + "/" + name : name;
                if (::access(candidate.c_str(), R_OK) == 0 && elf_arch(candidate) == arch) {
                    found = candidate;
                    break;
                }
            }
            if (found.empty()) {
                missing.push_back(name);
            } else {
                files.push_back(found);
                queue.push_back(found);
            }
        }
    }
    if (!missing.empty()) {
        std::string names;
        for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
        throw Error(exe + " needs " + arch_name(arch) + " shared libraries this machine does not have: " + names +
                    " (Debian: their packages for :" + guest_arch(arch).debian_arch + ")");
    }
    return files;
}

}  // namespace

std::vector<std::string> shared_library_closure(const std::string& exe) {
    const std::optional<ExecutableInterp> headers = read_interp(exe);
    if (!headers || !headers->dynamic) throw Error(exe + " is not a dynamically linked executable");
    const std::string& interp = headers->interpreter;
    const std::optional<Arch> arch = elf_arch(exe);
    if (!arch) throw Error(exe + " is built for a machine no kernel here runs");
    // The loader is read or run, so it must be the system's own (in its library directories
    // once symlinks and ".." are resolved, owned by root), not one the file names elsewhere.
    std::error_code ec;
    const std::string real = std::filesystem::canonical(interp, ec).string();
    struct stat st;
    const bool system_dir = !ec && std::any_of(std::begin(kSystemLibraryDirs), std::end(kSystemLibraryDirs),
                                               [&](const char* d) { return real.rfind(d, 0) == 0; });
    if (!system_dir || ::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0)
        throw Error(exe + " names the loader '" + interp + "', which is not this machine's");
    if (*arch != host_arch()) return foreign_library_closure(exe, interp, *arch);
    // The loader's own trace mode (what ldd runs): DT_NEEDED, RUNPATH, the caller's
    // LD_LIBRARY_PATH and ld.so.cache are its rules; it maps the libraries without running any
    // of their code, and names a missing one "not found". Without LD_PRELOAD: the guest
    // preloads nothing.
    RunOptions trace;
    trace.env = {"LD_TRACE_LOADED_OBJECTS=1", "LD_PRELOAD="};
    RunResult r = run_command({interp, exe}, trace);
    std::vector<std::string> files{interp};
    std::vector<std::string> missing;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        line.erase(0, line.find_first_not_of(" \t"));
        const std::size_t arrow = line.find(" => ");
        std::string path = arrow == std::string::npos ? line : line.substr(arrow + 4);
        if (path.rfind("not found", 0) == 0) {
            missing.push_back(line.substr(0, arrow));
            continue;
        }
        path = path.substr(0, path.find(" (0x"));
        // The vDSO ("linux-vdso.so.1 (0x...)") is the kernel's, not a file.
        if (path.empty() || path.front() != '/' || path == interp) continue;
        files.push_back(path);
    }
    if (!missing.empty()) {
        std::string names;
        for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
        throw Error(exe + " needs shared libraries this machine does not have: " + names);
    }
    if (!r.ok() || files.size() == 1)
        throw Error("listing " + exe + "'s shared libraries: " + interp + " " + r.status_text() + ": " + r.err);
    return files;
}

std::optional<Arch> elf_arch(const std::string& path) { return parse_arch(verify::elf_machine(path)); }

CpioArchive assemble_initramfs(const InitramfsInputs& in) {
    const std::pair<const char*, const std::string*> binaries[] = {
        {"/init (kmatrix_init)", &in.init}, {"busybox", &in.busybox}, {"flowattr", &in.agent},
        {"flowattr_kernel_tests", &in.kernel_tests}};
    for (const auto& [what, path] : binaries) {
        struct stat st;
        if (path->empty()) throw Error(std::string("no ") + what + " binary given for the initramfs");
        if (stat(path->c_str(), &st) != 0) throw Error("cannot use " + *path + " as " + what, errno);
        if (elf_linkage(*path) != ElfLinkage::static_exe)
            throw Error(*path + " is not a static executable; the initramfs has no dynamic loader");
        const std::optional<Arch> arch = elf_arch(*path);
        if (arch != in.arch)
            throw Error(*path + " is built for " + (arch ? arch_name(*arch) : "another machine") + ", the kernel for " +
                        arch_name(in.arch) + " (" + what + ")");
    }
    CpioArchive a;
    a.add_host_file("bin/busybox", in.busybox, 0755);
    std::set<std::string> applets(in.busybox_applets.begin(), in.busybox_applets.end());
    applets.insert(shell_applets().begin(), shell_applets().end());
    applets.erase("busybox");
    for (const auto& applet : applets) a.add_symlink("bin/" + applet, "busybox");
    a.add_host_file(kGuestAgent, in.agent, 0755);
    a.add_host_file(kGuestTests, in.kernel_tests, 0755);
    a.add_host_file("init", in.init, 0755);
    // The kernel opens /dev/console for init before /init can mount devtmpfs.
    a.add_char_device("dev/console", 5, 1, 0600);
    for (const char* dir : {"proc", "sys", "tmp", "run", "root"}) a.add_directory(dir, 0755);
    a.add_directory(kGuestModulesDir, 0755);
    if (!in.modules_dir.empty())
        for (const auto& name : list_modules(in.modules_dir))
            a.add_host_file(std::string(kGuestModulesDir) + "/" + name, in.modules_dir + "/" + name, 0644);
    if (!in.channel_modules_dir.empty()) {
        a.add_directory(kGuestChannelModulesDir, 0755);
        for (const auto& name : list_modules(in.channel_modules_dir))
            a.add_host_file(std::string(kGuestChannelModulesDir) + "/" + name, in.channel_modules_dir + "/" + name, 0644);
    }
    for (const auto& [path, host_path] : in.extra_files) a.add_host_file(path, host_path, 0755);
    for (const auto& [path, data] : in.generated_files) a.add_file(path, data, 0644);
    return a;
}

std::vector<std::string> list_busybox_applets(const std::string& busybox) {
    RunResult r = run_command({busybox, "--list"});
    std::vector<std::string> applets;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.find('/') == std::string::npos) applets.push_back(line);
    if (!r.ok() || std::find(applets.begin(), applets.end(), "sh") == applets.end())
        throw Error(busybox + " --list " + r.status_text() + " and named no sh: is it busybox?");
    return applets;
}

std::string build_initramfs(const InitramfsInputs& in) { return assemble_initramfs(in).serialize(reproducible_mtime()); }

}  // namespace flowattr::matrix
