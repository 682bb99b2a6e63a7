#include <gtest/gtest.h>

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "common/error.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/subprocess.h"
#include "matrix/brought_files.h"
#include "matrix/initramfs.h"
#include "matrix/qemu_runner.h"
#include "matrix/vm_suite.h"

namespace fm = flowattr::matrix;

namespace {

struct CpioEntry {
    std::uint32_t ino, mode, uid, gid, nlink, mtime, rmaj, rmin;
    std::string data;
};

std::uint32_t hex(const std::string& s, std::size_t off) { return std::uint32_t(std::stoul(s.substr(off, 8), nullptr, 16)); }

// A strict newc reader: fails the test on any framing error, so the writer is checked
// against the format rather than against itself.
std::vector<std::pair<std::string, CpioEntry>> read_cpio(const std::string& a) {
    std::vector<std::pair<std::string, CpioEntry>> out;
    std::size_t pos = 0;
    for (;;) {
        EXPECT_LE(pos + 110, a.size());
        if (pos + 110 > a.size()) return out;
        EXPECT_EQ(a.substr(pos, 6), "070701") << "at offset " << pos;
        CpioEntry e{hex(a, pos + 6),  hex(a, pos + 14), hex(a, pos + 22), hex(a, pos + 30), hex(a, pos + 38),
                    hex(a, pos + 46), hex(a, pos + 78), hex(a, pos + 86), {}};
        std::uint32_t size = hex(a, pos + 54), namesize = hex(a, pos + 94);
        std::string name = a.substr(pos + 110, namesize - 1);
        EXPECT_EQ(a[pos + 110 + namesize - 1], '\0');
        pos += 110 + namesize;
        pos = (pos + 3) & ~std::size_t(3);
        e.data = a.substr(pos, size);
        pos += size;
        pos = (pos + 3) & ~std::size_t(3);
        if (name == "TRAILER!!!") return out;
        out.emplace_back(name, e);
    }
}

// A minimal ELF64 header plus program headers, with or without PT_INTERP, for MACHINE
// (e_machine: 62 x86-64, 183 aarch64).
std::string fake_elf(bool with_interp, unsigned char machine = 62) {
    std::string f(64 + 2 * 56, '\0');
    f.replace(0, 4, "\x7f" "ELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16] = 2;   // ET_EXEC
    f[18] = char(machine);
    f[32] = 64;  // e_phoff
    f[54] = 56;  // e_phentsize
    f[56] = 2;   // e_phnum
    f[64] = 1;   // PT_LOAD
    f[64 + 56] = with_interp ? 3 : 1;
    return f;
}

class InitramfsFiles : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::make_unique<flowattr::TempDir>("initramfs-test");
        bin_ = dir_->path() + "/static";
        flowattr::write_file_atomic(bin_, fake_elf(false) + "payload");
        init_ = dir_->path() + "/kmatrix";
        flowattr::write_file_atomic(init_, fake_elf(false) + "init");
        mods_ = dir_->path() + "/mods";
        ASSERT_EQ(::mkdir(mods_.c_str(), 0755), 0);
    }
    fm::InitramfsInputs inputs() const {
        fm::InitramfsInputs in;
        in.init = init_;
        in.busybox = in.agent = in.kernel_tests = bin_;
        in.busybox_applets = {"true", "env", "busybox"};
        in.modules_dir = mods_;
        return in;
    }
    std::unique_ptr<flowattr::TempDir> dir_;
    std::string bin_, init_, mods_;
};

TEST(Cpio, SortedEntriesImpliedParentsAndTrailer) {
    fm::CpioArchive a;
    a.add_file("/usr/lib/z", "zz", 0600);
    a.add_symlink("bin/sh", "busybox");
    a.add_file("bin/busybox", "BB", 0755);
    a.add_char_device("dev/console", 5, 1, 0600);
    std::string bytes = a.serialize(1234);
    EXPECT_EQ(bytes.size() % 512, 0u);
    auto entries = read_cpio(bytes);
    std::vector<std::string> names;
    for (const auto& [n, e] : entries) names.push_back(n);
    EXPECT_EQ(names, (std::vector<std::string>{"bin", "bin/busybox", "bin/sh", "dev", "dev/console", "usr", "usr/lib",
                                               "usr/lib/z"}));
    std::uint32_t ino = 1;
    for (const auto& [n, e] : entries) {
        EXPECT_EQ(e.ino, ino++) << n;
        EXPECT_EQ(e.uid, 0u);
        EXPECT_EQ(e.gid, 0u);
        EXPECT_EQ(e.mtime, 1234u) << n;
    }
    std::map<std::string, CpioEntry> by(entries.begin(), entries.end());
    EXPECT_EQ(by["bin"].mode, std::uint32_t(S_IFDIR | 0755));
    EXPECT_EQ(by["bin/busybox"].mode, std::uint32_t(S_IFREG | 0755));
    EXPECT_EQ(by["bin/busybox"].data, "BB");
    EXPECT_EQ(by["bin/sh"].mode, std::uint32_t(S_IFLNK | 0777));
    EXPECT_EQ(by["bin/sh"].data, "busybox");
    EXPECT_EQ(by["dev/console"].mode, std::uint32_t(S_IFCHR | 0600));
    EXPECT_EQ(by["dev/console"].rmaj, 5u);
    EXPECT_EQ(by["usr/lib/z"].data, "zz");
}

TEST(Cpio, InsertionOrderDoesNotChangeBytes) {
    fm::CpioArchive a, b;
    a.add_file("b", "2");
    a.add_file("a/x", "1");
    a.add_symlink("c", "b");
    b.add_symlink("c", "b");
    b.add_file("a/x", "1");
    b.add_file("b", "2");
    EXPECT_EQ(a.serialize(0), b.serialize(0));
    EXPECT_NE(a.serialize(0), a.serialize(1));
}

TEST(Cpio, RejectsEscapingPaths) {
    fm::CpioArchive a;
    EXPECT_THROW(a.add_file("../etc/passwd", "x"), flowattr::Error);
    EXPECT_THROW(a.add_file("/", "x"), flowattr::Error);
    EXPECT_THROW(a.add_file("a//b", "x"), flowattr::Error);
}

TEST(Cpio, MtimeFollowsSourceDateEpoch) {
    ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    EXPECT_EQ(fm::reproducible_mtime(), 1700000000u);
    ::setenv("SOURCE_DATE_EPOCH", "not-a-number", 1);
    EXPECT_EQ(fm::reproducible_mtime(), 0u);
    ::unsetenv("SOURCE_DATE_EPOCH");
    EXPECT_EQ(fm::reproducible_mtime(), 0u);
}

TEST(ElfLinkage, InterpreterMeansDynamic) {
    flowattr::TempDir dir("elf-test");
    flowattr::write_file_atomic(dir.path() + "/static", fake_elf(false));
    flowattr::write_file_atomic(dir.path() + "/dynamic", fake_elf(true));
    flowattr::write_file_atomic(dir.path() + "/script", "#!/bin/sh\n");
    EXPECT_EQ(fm::elf_linkage(dir.path() + "/static"), fm::ElfLinkage::static_exe);
    EXPECT_EQ(fm::elf_linkage(dir.path() + "/dynamic"), fm::ElfLinkage::dynamic_exe);
    EXPECT_EQ(fm::elf_linkage(dir.path() + "/script"), fm::ElfLinkage::not_executable);
    EXPECT_EQ(fm::elf_linkage(dir.path() + "/missing"), fm::ElfLinkage::not_executable);
    // The real thing: the host's own dynamically linked shell.
    if (::access("/bin/sh", R_OK) == 0 && fm::elf_linkage("/bin/sh") != fm::ElfLinkage::not_executable) {
        EXPECT_EQ(fm::elf_linkage("/bin/sh"), fm::ElfLinkage::dynamic_exe);
    }
}

// A copy of the host's /bin/ls (dynamically linked on Debian) in DIR with the bytes FROM
// replaced by TO at their first place at or after OFFSET; "" when /bin/ls lacks them.
std::string patched_ls(const flowattr::TempDir& dir, const std::string& from, const std::string& to,
                       std::size_t offset = 0) {
    std::string bytes = flowattr::read_file("/bin/ls");
    const std::size_t at = bytes.find(from, offset);
    if (at == std::string::npos) return "";
    bytes.replace(at, from.size(), to);
    const std::string path = dir.path() + "/ls-" + std::to_string(at);
    flowattr::write_file_atomic(path, bytes);
    ::chmod(path.c_str(), 0755);
    return path;
}

class SharedLibraryClosure : public ::testing::Test {
protected:
    void SetUp() override {
        if (fm::elf_linkage("/bin/ls") != fm::ElfLinkage::dynamic_exe) GTEST_SKIP() << "/bin/ls is not dynamically linked here";
    }
    flowattr::TempDir dir_{"closure-test"};
    // What closure(PATH) throws, "" when it does not.
    static std::string refusal(const std::string& path) {
        try {
            fm::shared_library_closure(path);
        } catch (const flowattr::Error& e) {
            return e.what();
        }
        return "";
    }
};

TEST_F(SharedLibraryClosure, TheLoaderFirstThenEveryLibraryByItsHostPath) {
    const std::vector<std::string> files = fm::shared_library_closure("/bin/ls");
    ASSERT_GE(files.size(), 2u);
    EXPECT_TRUE(files.front().rfind("/lib", 0) == 0 || files.front().rfind("/usr/lib", 0) == 0) << files.front();
    EXPECT_EQ(std::count_if(files.begin(), files.end(), [](const std::string& f) { return f.size() > 10 && f.substr(f.size() - 10) == "/libc.so.6"; }), 1);
    for (const auto& f : files) {
        EXPECT_EQ(f.front(), '/') << f;
        EXPECT_EQ(::access(f.c_str(), R_OK), 0) << f;
        EXPECT_EQ(f.find("vdso"), std::string::npos) << "the vDSO is the kernel's, not a file: " << f;
        EXPECT_EQ(std::count(files.begin(), files.end(), f), 1) << f;
    }
}

// A library the host's loader finds through LD_LIBRARY_PATH comes from there, as it would
// when the tool runs on the host.
TEST_F(SharedLibraryClosure, FollowsTheCallersLibraryPath) {
    const std::vector<std::string> host = fm::shared_library_closure("/bin/ls");
    auto found = std::find_if(host.begin(), host.end(), [](const std::string& f) { return f.find("/libc.so.6") != std::string::npos; });
    ASSERT_NE(found, host.end());
    const std::string libc = *found;
    flowattr::write_file_atomic(dir_.path() + "/libc.so.6", flowattr::read_file(libc));
    const char* before = std::getenv("LD_LIBRARY_PATH");
    const std::string saved = before ? before : "";
    ::setenv("LD_LIBRARY_PATH", dir_.path().c_str(), 1);
    const std::vector<std::string> files = fm::shared_library_closure("/bin/ls");
    if (before) ::setenv("LD_LIBRARY_PATH", saved.c_str(), 1); else ::unsetenv("LD_LIBRARY_PATH");
    EXPECT_EQ(std::count(files.begin(), files.end(), dir_.path() + "/libc.so.6"), 1) << ::testing::PrintToString(files);
    EXPECT_EQ(std::count(files.begin(), files.end(), libc), 0) << ::testing::PrintToString(files);
}

TEST_F(SharedLibraryClosure, RefusesWhatCouldNotRunInTheGuest) {
    flowattr::write_file_atomic(dir_.path() + "/static", fake_elf(false));
    EXPECT_NE(refusal(dir_.path() + "/static").find("is not a dynamically linked executable"), std::string::npos);
    // Another architecture's executable that names this machine's loader.
    const bool x86 = fm::host_arch() == fm::Arch::x86_64;
    std::string bytes = flowattr::read_file("/bin/ls");
    bytes[18] = char(x86 ? 183 : 62);
    bytes[19] = 0;
    flowattr::write_file_atomic(dir_.path() + "/foreign", bytes);
    const std::string interp = fm::shared_library_closure("/bin/ls").front();
    EXPECT_NE(refusal(dir_.path() + "/foreign")
                  .find(std::string("needs the ") + (x86 ? "aarch64" : "x86_64") + " loader " + interp +
                        ", which this machine does not have"),
              std::string::npos)
        << refusal(dir_.path() + "/foreign");
    // A loader outside the system's directories is never run.
    const std::string elsewhere = patched_ls(dir_, interp, "/tmp" + interp.substr(4));
    ASSERT_FALSE(elsewhere.empty());
    EXPECT_NE(refusal(elsewhere).find("names the loader '/tmp" + interp.substr(4) + "', which is not this machine's"),
              std::string::npos)
        << refusal(elsewhere);
    // Nor one that only starts like a system directory: a copy of the loader, owned by whoever
    // runs this (root in make check), reached through "/lib/..".
    char copy[] = "/tmp/faldXXXXXX";  // short enough to patch in
    const int fd = ::mkstemp(copy);
    ASSERT_GE(fd, 0);
    ::close(fd);
    flowattr::write_file_atomic(copy, flowattr::read_file(interp));
    const std::string dotdot = std::string("/lib/..") + copy;
    const std::string through = patched_ls(dir_, interp, dotdot + std::string(interp.size() - dotdot.size(), '\0'));
    EXPECT_NE(refusal(through).find("names the loader '" + dotdot + "', which is not this machine's"), std::string::npos)
        << refusal(through);
    ::unlink(copy);
}

// Another architecture's executable: its libraries are looked up where its own loader will
// look in the guest, the multiarch directories (/bin/ls made an aarch64 file naming the
// aarch64 loader: its libc is found, its libselinux only if libselinux1:arm64 is installed).
class ForeignLibraryClosure : public SharedLibraryClosure {
protected:
    void SetUp() override {
        SharedLibraryClosure::SetUp();
        if (IsSkipped()) return;
        if (fm::host_arch() != fm::Arch::x86_64) GTEST_SKIP() << "written for an x86_64 host";
        if (fm::elf_arch(loader_) != fm::Arch::aarch64) GTEST_SKIP() << "no aarch64 loader here (libc6:arm64)";
        const std::string interp = fm::shared_library_closure("/bin/ls").front();
        ASSERT_EQ(interp, "/lib64/ld-linux-x86-64.so.2");
        std::string bytes = flowattr::read_file("/bin/ls");
        bytes[18] = char(183);
        const std::size_t at = bytes.find(interp);
        ASSERT_NE(at, std::string::npos);
        bytes.replace(at, interp.size(), loader_ + std::string(interp.size() - loader_.size(), '\0'));
        flowattr::write_file_atomic(ls_, bytes);
    }
    const std::string loader_ = "/lib/ld-linux-aarch64.so.1";
    const std::string ls_ = dir_.path() + "/ls-aarch64";
};

TEST_F(ForeignLibraryClosure, FromItsMultiarchDirectories) {
    const std::string& ls = ls_;
    const std::string& loader = loader_;
    if (::access("/lib/aarch64-linux-gnu/libselinux.so.1", R_OK) != 0) {
        const std::string why = refusal(ls);
        EXPECT_NE(why.find("needs aarch64 shared libraries this machine does not have: libselinux.so.1 (Debian: their "
                           "packages for :arm64)"),
                  std::string::npos)
            << why;
        EXPECT_EQ(why.find("libc.so.6"), std::string::npos) << why;
        return;
    }
    const std::vector<std::string> files = fm::shared_library_closure(ls);
    EXPECT_EQ(files.front(), loader);
    for (const auto& f : files) EXPECT_EQ(fm::elf_arch(f), fm::Arch::aarch64) << f;
    EXPECT_EQ(std::count_if(files.begin(), files.end(), [](const std::string& f) { return f.find("ld-linux") != std::string::npos; }), 1)
        << "the loader, which libc names too, once: " << ::testing::PrintToString(files);
}

// LD_LIBRARY_PATH comes before the system's directories, as for the guest's loader, and a
// library of this machine's architecture there is passed over: here the aarch64 libc comes
// from the caller's directory, and libselinux.so.1 (an aarch64 libz by that name) too.
TEST_F(ForeignLibraryClosure, FollowsTheCallersLibraryPath) {
    const std::string libc = "/lib/aarch64-linux-gnu/libc.so.6", libz = "/lib/aarch64-linux-gnu/libz.so.1";
    if (fm::elf_arch(libz) != fm::Arch::aarch64) GTEST_SKIP() << "no " << libz << " here (zlib1g:arm64)";
    const std::string wrong = dir_.path() + "/x86", own = dir_.path() + "/arm";
    ASSERT_EQ(::mkdir(wrong.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(own.c_str(), 0755), 0);
    flowattr::write_file_atomic(wrong + "/libc.so.6", flowattr::read_file("/lib/x86_64-linux-gnu/libc.so.6"));
    flowattr::write_file_atomic(own + "/libc.so.6", flowattr::read_file(libc));
    flowattr::write_file_atomic(own + "/libselinux.so.1", flowattr::read_file(libz));
    const char* before = std::getenv("LD_LIBRARY_PATH");
    const std::string saved = before ? before : "";
    ::setenv("LD_LIBRARY_PATH", (wrong + ":" + own).c_str(), 1);
    const std::string why = refusal(ls_);
    const std::vector<std::string> files = why.empty() ? fm::shared_library_closure(ls_) : std::vector<std::string>{};
    if (before) ::setenv("LD_LIBRARY_PATH", saved.c_str(), 1); else ::unsetenv("LD_LIBRARY_PATH");
    if (why.find("this machine does not have") != std::string::npos && why.find("libselinux") == std::string::npos)
        GTEST_SKIP() << "another of /bin/ls's libraries is missing for aarch64 here: " << why;
    ASSERT_EQ(why, "");
    EXPECT_EQ(std::count(files.begin(), files.end(), own + "/libc.so.6"), 1) << ::testing::PrintToString(files);
    EXPECT_EQ(std::count(files.begin(), files.end(), own + "/libselinux.so.1"), 1) << ::testing::PrintToString(files);
    EXPECT_EQ(std::count(files.begin(), files.end(), libc), 0) << ::testing::PrintToString(files);
    EXPECT_EQ(std::count(files.begin(), files.end(), wrong + "/libc.so.6"), 0) << ::testing::PrintToString(files);
}

TEST_F(SharedLibraryClosure, ALibraryThisMachineLacksIsNamed) {
    const std::string missing = patched_ls(dir_, "libselinux.so.1", "libselinuX.so.1");
    if (missing.empty()) GTEST_SKIP() << "/bin/ls needs no libselinux.so.1 here";
    EXPECT_NE(refusal(missing).find("needs shared libraries this machine does not have: libselinuX.so.1"), std::string::npos)
        << refusal(missing);
}

// What --file brings: an executable to its own architecture's kernels (two builds may share a
// name), anything else to every kernel, a dynamically linked one with its libraries and their
// directories as the guest's library path; bad input named, one line each.
TEST(BroughtFiles, EachArchitectureGetsItsOwnAndTheRestGoesEverywhere) {
    if (fm::elf_linkage("/bin/ls") != fm::ElfLinkage::dynamic_exe) GTEST_SKIP() << "/bin/ls is not dynamically linked here";
    const bool x86 = fm::host_arch() == fm::Arch::x86_64;
    const fm::Arch other = x86 ? fm::Arch::aarch64 : fm::Arch::x86_64;
    flowattr::TempDir dir("brought-test");
    ASSERT_EQ(::mkdir((dir.path() + "/a").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir.path() + "/b").c_str(), 0755), 0);
    flowattr::write_file_atomic(dir.path() + "/a/tool", fake_elf(false, 62) + "x86");
    flowattr::write_file_atomic(dir.path() + "/b/tool", fake_elf(false, 183) + "arm");
    flowattr::write_file_atomic(dir.path() + "/run.sh", "tool\n");
    flowattr::write_file_atomic(dir.path() + "/ls", "not the ls\n");
    fm::BroughtFiles b = fm::bring_files({dir.path() + "/a/tool", dir.path() + "/b/tool", dir.path() + "/run.sh", "/bin/ls",
                                          dir.path() + "/ls", dir.path() + "/missing"});
    ASSERT_EQ(b.errors.size(), 2u) << ::testing::PrintToString(b.errors);
    EXPECT_EQ(b.errors[0], "--file " + dir.path() + "/ls and /bin/ls would both be /exec/ls");
    EXPECT_EQ(b.errors[1], "--file " + dir.path() + "/missing: not a readable regular file");
    ASSERT_EQ(b.files.size(), 4u);
    EXPECT_EQ(b.files[0].arch, fm::Arch::x86_64);
    EXPECT_EQ(b.files[1].arch, fm::Arch::aarch64);
    EXPECT_EQ(b.files[2].arch, std::nullopt);
    EXPECT_EQ(b.files[2].sha256, flowattr::sha256_hex(std::string("tool\n")));
    EXPECT_EQ(b.files[3].arch, fm::host_arch());
    ASSERT_FALSE(b.files[3].libraries.empty());
    EXPECT_EQ(b.files[3].libraries, fm::shared_library_closure("/bin/ls"));

    std::map<fm::Arch, fm::InitramfsInputs> binaries{{fm::Arch::x86_64, {}}, {fm::Arch::aarch64, {}}};
    const std::vector<std::string> notes = fm::add_brought_files(b.files, binaries);
    EXPECT_EQ(notes, std::vector<std::string>{std::string("no ") + fm::arch_name(other) + " build of ls given: the " +
                                              fm::arch_name(other) + " kernels have no /exec/ls"});
    EXPECT_EQ(binaries[fm::Arch::x86_64].extra_files["exec/tool"], dir.path() + "/a/tool");
    EXPECT_EQ(binaries[fm::Arch::aarch64].extra_files["exec/tool"], dir.path() + "/b/tool");
    for (auto& [arch, in] : binaries) EXPECT_EQ(in.extra_files["exec/run.sh"], dir.path() + "/run.sh");
    auto& own = binaries[fm::host_arch()];
    EXPECT_EQ(own.extra_files["exec/ls"], "/bin/ls");
    for (const auto& lib : b.files[3].libraries) {
        EXPECT_EQ(own.extra_files[lib.substr(1)], lib);
        EXPECT_NE((":" + own.generated_files["kmatrix/library_path"]).find(":" + lib.substr(0, lib.rfind('/'))),
                  std::string::npos)
            << own.generated_files["kmatrix/library_path"];
    }
    EXPECT_EQ(binaries[other].extra_files.count("exec/ls"), 0u);
    EXPECT_EQ(binaries[other].generated_files.count("kmatrix/library_path"), 0u);
}

TEST_F(InitramfsFiles, ByteIdenticalForTheSameInputs) {
    flowattr::write_file_atomic(mods_ + "/sch_ingress.ko", "A");
    flowattr::write_file_atomic(mods_ + "/cls_bpf.ko", "B");
    std::string first = fm::build_initramfs(inputs());
    // Same contents written again in the other order, with other file mtimes.
    ASSERT_EQ(::unlink((mods_ + "/sch_ingress.ko").c_str()), 0);
    ASSERT_EQ(::unlink((mods_ + "/cls_bpf.ko").c_str()), 0);
    sleep(1);
    flowattr::write_file_atomic(mods_ + "/cls_bpf.ko", "B");
    flowattr::write_file_atomic(mods_ + "/sch_ingress.ko", "A");
    std::string second = fm::build_initramfs(inputs());
    EXPECT_EQ(flowattr::sha256_hex(first), flowattr::sha256_hex(second));
    flowattr::write_file_atomic(mods_ + "/cls_bpf.ko", "C");
    EXPECT_NE(fm::build_initramfs(inputs()), first);
}

TEST_F(InitramfsFiles, HoldsInitBinariesAppletsAndModules) {
    flowattr::write_file_atomic(mods_ + "/cls_bpf.ko", "ko");
    flowattr::write_file_atomic(mods_ + "/README", "not a module");
    auto entries = read_cpio(fm::build_initramfs(inputs()));
    std::map<std::string, CpioEntry> by(entries.begin(), entries.end());
    ASSERT_TRUE(by.count("init"));
    EXPECT_EQ(by["init"].mode, std::uint32_t(S_IFREG | 0755));
    EXPECT_EQ(by["init"].data, fake_elf(false) + "init");
    EXPECT_TRUE(by.count("bin/busybox"));
    EXPECT_TRUE(by.count("bin/flowattr"));
    EXPECT_TRUE(by.count("bin/flowattr_kernel_tests"));
    for (const auto& applet : fm::shell_applets()) EXPECT_EQ(by["bin/" + applet].data, "busybox") << applet;
    for (const char* applet : {"true", "env"}) EXPECT_EQ(by[std::string("bin/") + applet].data, "busybox") << applet;
    EXPECT_EQ(by["bin/busybox"].mode & S_IFMT, std::uint32_t(S_IFREG)) << "busybox is no link to itself";
    EXPECT_EQ(by["lib/modules/kmatrix/cls_bpf.ko"].data, "ko");
    EXPECT_FALSE(by.count("lib/modules/kmatrix/README"));
    EXPECT_EQ(by["dev/console"].mode & S_IFMT, std::uint32_t(S_IFCHR));
    for (const char* d : {"proc", "sys", "tmp"}) EXPECT_EQ(by[d].mode & S_IFMT, std::uint32_t(S_IFDIR)) << d;
}

TEST_F(InitramfsFiles, RefusesDynamicOrMissingBinaries) {
    std::string dynamic = dir_->path() + "/dynamic";
    flowattr::write_file_atomic(dynamic, fake_elf(true));
    auto in = inputs();
    in.agent = dynamic;
    try {
        fm::build_initramfs(in);
        FAIL() << "a dynamic binary was accepted";
    } catch (const flowattr::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not a static"), std::string::npos) << e.what();
    }
    in = inputs();
    in.init = dynamic;
    EXPECT_THROW(fm::build_initramfs(in), flowattr::Error);
    in = inputs();
    in.kernel_tests = dir_->path() + "/nope";
    EXPECT_THROW(fm::build_initramfs(in), flowattr::Error);
    in = inputs();
    in.modules_dir = dir_->path() + "/no-such-dir";
    EXPECT_THROW(fm::build_initramfs(in), flowattr::Error);
}

// An initramfs holds one architecture: a binary built for another is refused by name, and an
// aarch64 one carries the results channel's modules in their own directory.
TEST_F(InitramfsFiles, EveryBinaryIsBuiltForTheKernelsArchitecture) {
    const std::string arm = dir_->path() + "/arm";
    flowattr::write_file_atomic(arm, fake_elf(false, 183) + "arm");
    EXPECT_EQ(fm::elf_arch(arm), fm::Arch::aarch64);
    EXPECT_EQ(fm::elf_arch(bin_), fm::Arch::x86_64);
    auto in = inputs();
    in.arch = fm::Arch::aarch64;
    try {
        fm::build_initramfs(in);
        FAIL() << "x86_64 binaries were accepted for an aarch64 kernel";
    } catch (const flowattr::Error& e) {
        EXPECT_NE(std::string(e.what()).find("is built for x86_64, the kernel for aarch64"), std::string::npos) << e.what();
    }
    in.init = in.busybox = in.agent = in.kernel_tests = arm;
    in.busybox_applets.clear();
    const std::string channel = dir_->path() + "/channel";
    ASSERT_EQ(::mkdir(channel.c_str(), 0755), 0);
    flowattr::write_file_atomic(channel + "/virtio_console.ko", "vc");
    in.channel_modules_dir = channel;
    auto entries = read_cpio(fm::build_initramfs(in));
    std::map<std::string, CpioEntry> by(entries.begin(), entries.end());
    EXPECT_EQ(by["lib/modules/kmatrix-channel/virtio_console.ko"].data, "vc");
    EXPECT_FALSE(by.count("lib/modules/kmatrix/virtio_console.ko")) << "the suite's modules stay apart";
    for (const auto& applet : fm::shell_applets()) EXPECT_EQ(by["bin/" + applet].data, "busybox") << applet;
}

// cpio(1) must read what we write (skipped where cpio is not installed).
TEST_F(InitramfsFiles, GnuCpioListsTheArchive) {
    if (::access("/usr/bin/cpio", X_OK) != 0 && ::access("/bin/cpio", X_OK) != 0) GTEST_SKIP() << "needs cpio";
    std::string path = dir_->path() + "/initrd";
    flowattr::write_file_atomic(path, fm::build_initramfs(inputs()));
    flowattr::RunOptions opt;
    opt.stdin_data = flowattr::read_file(path);
    auto r = flowattr::run_command({"cpio", "-t", "--quiet"}, opt);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("init\n"), std::string::npos);
    EXPECT_NE(r.out.find("bin/flowattr_kernel_tests\n"), std::string::npos);
}

// The real busybox-static names its applets; a file that is not busybox is refused by name.
TEST(BusyboxApplets, ListedFromTheBinaryItself) {
    if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
    auto applets = fm::list_busybox_applets("/bin/busybox");
    for (const char* a : {"sh", "true", "env", "cat"})
        EXPECT_NE(std::find(applets.begin(), applets.end(), a), applets.end()) << a;
    EXPECT_THROW(fm::list_busybox_applets("/bin/true"), flowattr::Error);
}

}  // namespace
