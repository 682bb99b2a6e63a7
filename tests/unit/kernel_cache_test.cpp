// Kernel cache without the network: file: and loopback url: sources, a .deb built here with
// dpkg-deb, and hand-made kernel modules whose .modinfo names a dependency.
#include <gtest/gtest.h>

#include <elf.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/subprocess.h"
#include "loopback_http_server.h"
#include "matrix/cache_files.h"
#include "matrix/deb_extract.h"
#include "matrix/fetch_cli.h"
#include "matrix/http_fetch.h"
#include "matrix/kernel_cache.h"

namespace {

namespace fs = std::filesystem;
using namespace flowattr::matrix;

const char* const kGoodConfig =
    "#\n# Automatically generated file; DO NOT EDIT.\n#\n"
    "CONFIG_BPF_SYSCALL=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_BPF_LSM=y\nCONFIG_CGROUP_BPF=y\n"
    "CONFIG_NET_CLS_BPF=m\nCONFIG_NET_SCH_INGRESS=m\nCONFIG_VETH=m\n"
    "CONFIG_LSM=\"lockdown,yama,bpf\"\n";

// A minimal ELF64 relocatable with only a .modinfo section, as a kernel module has.
std::string make_module(const std::string& name, const std::string& depends) {
    std::string modinfo = "license=GPL";
    modinfo += '\0';
    modinfo += "depends=" + depends;
    modinfo += '\0';
    modinfo += "name=" + name;
    modinfo += '\0';
    std::string shstrtab = std::string("\0.modinfo\0.shstrtab\0", 20);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_REL;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = 3;
    eh.e_shstrndx = 2;
    eh.e_shoff = sizeof(Elf64_Ehdr) + modinfo.size() + shstrtab.size();
    Elf64_Shdr sh[3]{};
    sh[1].sh_name = 1;
    sh[1].sh_type = SHT_PROGBITS;
    sh[1].sh_offset = sizeof(Elf64_Ehdr);
    sh[1].sh_size = modinfo.size();
    sh[2].sh_name = 10;
    sh[2].sh_type = SHT_STRTAB;
    sh[2].sh_offset = sizeof(Elf64_Ehdr) + modinfo.size();
    sh[2].sh_size = shstrtab.size();
    std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
    out += modinfo + shstrtab;
    out.append(reinterpret_cast<const char*>(sh), sizeof sh);
    return out;
}

// A fake bzImage: only the "HdrS" magic at 0x202 matters to the cache.
std::string make_vmlinuz(char fill) {
    std::string s(8192, fill);
    s.replace(0x202, 4, "HdrS");
    return s;
}

void write(const std::string& path, const std::string& data) {
    flowattr::make_directories(fs::path(path).parent_path().string());
    flowattr::write_file_atomic(path, data);
}

class KernelCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/flowattr-kcache-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        cache_root_ = dir_ + "/cache";
    }
    void TearDown() override { remove_tree(dir_); }

    // A Debian-style kernel package: /boot/vmlinuz-R, /boot/config-R and modules under
    // /usr/lib/modules/R (sch_ingress compressed with xz and depending on a helper module).
    std::string build_deb(const std::string& config) {
        const std::string root = dir_ + "/pkgroot";
        const std::string rel = "9.9.9-test";
        write(root + "/DEBIAN/control",
              "Package: linux-image-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n");
        write(root + "/boot/vmlinuz-" + rel, make_vmlinuz('k'));
        write(root + "/boot/config-" + rel, config);
        const std::string mods = root + "/usr/lib/modules/" + rel + "/kernel";
        write(mods + "/net/sched/sch_ingress.ko", make_module("sch_ingress", "sch-helper"));
        flowattr::check_command({"xz", "-f", mods + "/net/sched/sch_ingress.ko"}, "xz");
        write(mods + "/net/sched/sch_helper.ko", make_module("sch_helper", ""));
        write(mods + "/net/sched/cls_bpf.ko", make_module("cls_bpf", ""));
        write(mods + "/drivers/net/veth.ko", make_module("veth", ""));
        write(mods + "/drivers/net/unrelated.ko", make_module("unrelated", ""));
        const std::string deb = dir_ + "/linux-image-test.deb";
        flowattr::check_command({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb}, "dpkg-deb --build");
        remove_tree(root);
        return deb;
    }

    // The entry a one-line kernels.txt in the scratch directory gives.
    KernelEntry entry(const std::string& name, const std::string& source, const std::string& sha) {
        return flowattr::matrix::parse_kernel_list(name + " 9.9.9 " + source + " " + sha + " - x86_64\n", dir_ + "/kernels.txt")
            .at(0);
    }

    std::vector<std::string> entries_in(const std::string& sub) const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(cache_root_ + "/" + sub, ec)) out.push_back(e.path().filename().string());
        return out;
    }

    std::string dir_, cache_root_;
};

TEST_F(KernelCacheTest, FileDebSourceExtractsVmlinuzConfigAndModulesWithDependencies) {
    const std::string deb = build_deb(kGoodConfig);
    KernelEntry e = entry("test", "file:" + deb, flowattr::sha256_file(deb));
    KernelCache cache(cache_root_, false);
    EXPECT_EQ(cache.state(e), CacheState::missing);
    std::vector<std::string> messages;
    FetchResult r = cache.fetch(e, [&](const std::string& k, const std::string& m) {
        EXPECT_EQ(k, "test");
        messages.push_back(m);
    });
    ASSERT_EQ(r.status, FetchStatus::ok) << r.reason;
    EXPECT_EQ(r.image.release, "9.9.9-test");
    EXPECT_EQ(flowattr::read_file(r.image.vmlinuz), make_vmlinuz('k'));
    EXPECT_EQ(r.image.image_sha256, flowattr::sha256_hex(make_vmlinuz('k')));
    EXPECT_EQ(flowattr::read_file(r.image.config), kGoodConfig);
    EXPECT_EQ(r.image.modules, (std::vector<std::string>{"cls_bpf.ko", "sch_helper.ko", "sch_ingress.ko", "veth.ko"}));
    // Decompressed from .ko.xz, byte for byte.
    EXPECT_EQ(flowattr::read_file(r.image.modules_dir + "/sch_ingress.ko"), make_module("sch_ingress", "sch-helper"));
    EXPECT_FALSE(path_exists(r.image.modules_dir + "/unrelated.ko"));
    EXPECT_EQ(r.image.vmlinuz.compare(0, cache_root_.size(), cache_root_), 0);
    EXPECT_EQ(cache.state(e), CacheState::cached);
    EXPECT_TRUE(entries_in("tmp").empty());

    // Second fetch: verified from the cache, nothing extracted again.
    messages.clear();
    FetchResult again = cache.fetch(e, [&](const std::string&, const std::string& m) { messages.push_back(m); });
    EXPECT_EQ(again.status, FetchStatus::ok);
    EXPECT_EQ(again.image.vmlinuz, r.image.vmlinuz);
    for (const auto& m : messages) EXPECT_EQ(m.find("extracting"), std::string::npos) << m;
}

// An aarch64 kernel boots into its own architecture's busybox, named in its source, and
// brings the modules its results channel needs (virtio, when built as modules) apart from
// the suite's.
TEST_F(KernelCacheTest, Aarch64EntryTakesBusyboxAndChannelModulesFromItsSource) {
    const std::string root = dir_ + "/armroot", rel = "9.9.9-arm64";
    std::string image(8192, 'a');
    image.replace(0x38, 4, "ARM\x64");
    write(root + "/DEBIAN/control",
          "Package: linux-image-arm\nVersion: 1\nArchitecture: arm64\nMaintainer: t <t@example.org>\nDescription: t\n");
    write(root + "/boot/vmlinuz-" + rel, image);
    write(root + "/boot/config-" + rel, std::string(kGoodConfig) + "CONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_CONSOLE=m\n");
    const std::string mods = root + "/usr/lib/modules/" + rel + "/kernel";
    for (const char* m : {"sch_ingress", "cls_bpf", "veth", "virtio", "virtio_pci"})
        write(mods + "/" + m + ".ko", make_module(m, m == std::string("virtio_pci") ? "virtio" : ""));
    write(mods + "/virtio_console.ko", make_module("virtio_console", "virtio"));
    const std::string kernel_deb = dir_ + "/linux-image-arm.deb";
    flowattr::check_command({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, kernel_deb}, "dpkg-deb --build");
    remove_tree(root);
    write(root + "/DEBIAN/control",
          "Package: busybox-static\nVersion: 1\nArchitecture: arm64\nMaintainer: t <t@example.org>\nDescription: t\n");
    write(root + "/bin/busybox", "arm busybox");
    const std::string busybox_deb = dir_ + "/busybox-static.deb";
    flowattr::check_command({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, busybox_deb}, "dpkg-deb --build");

    auto arm_entry = [&](const std::string& source, const std::string& sha) {
        return flowattr::matrix::parse_kernel_list("arm 9.9.9 " + source + " " + sha + " - aarch64\n", dir_ + "/kernels.txt").at(0);
    };
    KernelCache cache(cache_root_, false);
    FetchResult alone = cache.fetch(arm_entry("file:" + kernel_deb, flowattr::sha256_file(kernel_deb)));
    EXPECT_EQ(alone.status, FetchStatus::unavailable);
    EXPECT_NE(alone.reason.find("must also name busybox-static"), std::string::npos) << alone.reason;

    FetchResult r = cache.fetch(arm_entry("file:" + kernel_deb + ",file:" + busybox_deb,
                                          flowattr::sha256_file(kernel_deb) + "," + flowattr::sha256_file(busybox_deb)));
    ASSERT_EQ(r.status, FetchStatus::ok) << r.reason;
    EXPECT_EQ(flowattr::read_file(r.image.busybox), "arm busybox");
    EXPECT_EQ(r.image.modules, (std::vector<std::string>{"cls_bpf.ko", "sch_ingress.ko", "veth.ko"}));
    for (const char* m : {"virtio.ko", "virtio_pci.ko", "virtio_console.ko"})
        EXPECT_TRUE(path_exists(r.image.channel_modules_dir + "/" + m)) << m;
}

TEST_F(KernelCacheTest, WrongSha256IsAnErrorAndNothingIsKept) {
    const std::string deb = build_deb(kGoodConfig);
    const std::string wrong(64, '0');
    KernelCache cache(cache_root_, false);
    try {
        cache.fetch(entry("test", "file:" + deb, wrong));
        FAIL() << "expected ChecksumError";
    } catch (const ChecksumError& err) {
        EXPECT_NE(std::string(err.what()).find("expected " + wrong), std::string::npos) << err.what();
        EXPECT_NE(std::string(err.what()).find("actual " + flowattr::sha256_file(deb)), std::string::npos) << err.what();
    }
    EXPECT_TRUE(entries_in("artifacts").empty());
    EXPECT_TRUE(entries_in("kernels").empty());
    EXPECT_TRUE(entries_in("tmp").empty());
}

// What a fetch of FILE (pinned by its own sha256, so the checksum passes) ends in: the
// error's text, or the result's reason when it did not throw.
std::string fetch_failure(KernelCache& cache, const KernelEntry& e) {
    try {
        FetchResult r = cache.fetch(e);
        return r.status == FetchStatus::ok ? "(ok)" : r.reason;
    } catch (const flowattr::Error& err) {
        return err.what();
    }
}

TEST_F(KernelCacheTest, CorruptDebIsRefusedAndNothingIsKept) {
    const std::string deb = dir_ + "/linux-image-corrupt.deb";
    write(deb, "!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\nthis is no data member");
    KernelCache cache(cache_root_, false);
    const std::string why = fetch_failure(cache, entry("corrupt", "file:" + deb, flowattr::sha256_file(deb)));
    EXPECT_NE(why, "(ok)");
    EXPECT_NE(why.find("cannot unpack file:" + deb + " into the cache (dpkg-deb: "), std::string::npos) << why;
    EXPECT_TRUE(entries_in("kernels").empty());
    EXPECT_TRUE(entries_in("tmp").empty());
}

TEST_F(KernelCacheTest, DebWithoutVmlinuzIsRefusedSayingSo) {
    const std::string root = dir_ + "/pkgroot";
    write(root + "/DEBIAN/control",
          "Package: linux-headers-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: t\n");
    write(root + "/usr/share/doc/linux-headers-test/README", "headers only\n");
    const std::string deb = dir_ + "/linux-headers-test.deb";
    flowattr::check_command({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb}, "dpkg-deb --build");
    KernelCache cache(cache_root_, false);
    const std::string why = fetch_failure(cache, entry("novmlinuz", "file:" + deb, flowattr::sha256_file(deb)));
    EXPECT_NE(why.find("vmlinuz"), std::string::npos) << why;
    EXPECT_TRUE(entries_in("kernels").empty());
    EXPECT_TRUE(entries_in("tmp").empty());
}

// The cache on a filesystem of its own (a small tmpfs), for the disk-full and read-only
// cases; skips, saying why, where mounting is not allowed.
class KernelCacheOnTmpfs : public KernelCacheTest {
protected:
    bool mount_cache(const std::string& options) {
        fs::create_directories(cache_root_);
        if (geteuid() != 0 || mount("tmpfs", cache_root_.c_str(), "tmpfs", 0, options.c_str()) != 0) return false;
        mounted_ = true;
        return true;
    }
    void TearDown() override {
        if (mounted_) umount2(cache_root_.c_str(), MNT_DETACH);
        KernelCacheTest::TearDown();
    }
    bool mounted_ = false;
};

TEST_F(KernelCacheOnTmpfs, FullDiskIsNamedAndLeavesNoHalfEntry) {
    const std::string deb = build_deb(kGoodConfig);
    if (!mount_cache("size=24k")) GTEST_SKIP() << "needs root to mount a small tmpfs for the cache";
    KernelCache cache(cache_root_, false);
    const std::string why = fetch_failure(cache, entry("full", "file:" + deb, flowattr::sha256_file(deb)));
    EXPECT_NE(why.find("cannot unpack file:" + deb), std::string::npos) << why;
    EXPECT_NE(why.find("No space left on device"), std::string::npos) << why;
    EXPECT_TRUE(entries_in("kernels").empty());
    // The next fetch on a disk with room works: nothing half-written is in the way.
    umount2(cache_root_.c_str(), MNT_DETACH);
    mounted_ = false;
    fs::remove_all(cache_root_);
    KernelCache roomy(cache_root_, false);
    EXPECT_EQ(fetch_failure(roomy, entry("full", "file:" + deb, flowattr::sha256_file(deb))), "(ok)");
}

TEST_F(KernelCacheOnTmpfs, ReadOnlyCacheServesWhatItHoldsAndNamesWhatItCannotStore) {
    const std::string deb = build_deb(kGoodConfig);
    if (!mount_cache("size=8m")) GTEST_SKIP() << "needs root to mount a tmpfs for the cache";
    KernelEntry held = entry("held", "file:" + deb, flowattr::sha256_file(deb));
    {
        KernelCache cache(cache_root_, false);
        ASSERT_EQ(fetch_failure(cache, held), "(ok)");
    }
    ASSERT_EQ(mount(nullptr, cache_root_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0);
    KernelCache cache(cache_root_, true);
    EXPECT_EQ(fetch_failure(cache, held), "(ok)") << "a read-only cache (a CI cache restored read-only) still serves";
    KernelCache writer(cache_root_, false);
    const std::string other = dir_ + "/other.deb";
    fs::copy_file(deb, other);
    std::ofstream(other, std::ios::app) << "x";  // other bytes, another artifact
    const std::string why = fetch_failure(writer, entry("other", "file:" + other, flowattr::sha256_file(other)));
    EXPECT_NE(why.find("the cache " + cache_root_ + " is not writable and holds no complete entry for other"),
              std::string::npos)
        << why;
    EXPECT_NE(why.find("Read-only file system"), std::string::npos) << why;
}

TEST_F(KernelCacheTest, ConfigWithoutBpfLsmIsUnsupportedNamingTheOption) {
    std::string config = kGoodConfig;
    config.replace(config.find("CONFIG_BPF_LSM=y"), 16, "# CONFIG_BPF_LSM is not set");
    const std::string deb = build_deb(config);
    KernelCache cache(cache_root_, false);
    FetchResult r = cache.fetch(entry("nolsm", "file:" + deb, flowattr::sha256_file(deb)));
    EXPECT_EQ(r.status, FetchStatus::unsupported);
    EXPECT_EQ(r.reason, "CONFIG_BPF_LSM is not set");
    EXPECT_FALSE(r.image.vmlinuz.empty());
}

TEST_F(KernelCacheTest, OfflineUsesOnlyTheCache) {
    const std::string deb = build_deb(kGoodConfig);
    KernelEntry e = entry("test", "file:" + deb, flowattr::sha256_file(deb));
    FetchResult miss = KernelCache(cache_root_, true).fetch(e);
    EXPECT_EQ(miss.status, FetchStatus::unavailable);
    EXPECT_NE(miss.reason.find("not in the cache and --offline"), std::string::npos) << miss.reason;
    ASSERT_EQ(KernelCache(cache_root_, false).fetch(e).status, FetchStatus::ok);
    // Even with the source gone, offline works from the cache.
    remove_tree(deb);
    EXPECT_EQ(KernelCache(cache_root_, true).fetch(e).status, FetchStatus::ok);
}

TEST_F(KernelCacheTest, SourceNoneIsUnavailableNeverOk) {
    KernelCache cache(cache_root_, false);
    KernelEntry e = entry("5.15", "none", "-");
    FetchResult r = cache.fetch(e);
    EXPECT_EQ(r.status, FetchStatus::unavailable);
    EXPECT_NE(r.reason.find("source none"), std::string::npos) << r.reason;
    EXPECT_EQ(cache.state(e), CacheState::no_source);
}

TEST_F(KernelCacheTest, DamagedFilesAreDetectedAndRebuilt) {
    const std::string deb = build_deb(kGoodConfig);
    KernelEntry e = entry("test", "file:" + deb, flowattr::sha256_file(deb));
    KernelCache cache(cache_root_, false);
    FetchResult r = cache.fetch(e);
    ASSERT_EQ(r.status, FetchStatus::ok);
    // Flip the cached image: the next use must notice, rebuild from the (verified) artifact.
    flowattr::write_file_atomic(r.image.vmlinuz, make_vmlinuz('X'));
    std::string log;
    FetchResult again = cache.fetch(e, [&](const std::string&, const std::string& m) { log += m + "\n"; });
    EXPECT_NE(log.find("damaged"), std::string::npos) << log;
    ASSERT_EQ(again.status, FetchStatus::ok);
    EXPECT_EQ(flowattr::read_file(again.image.vmlinuz), make_vmlinuz('k'));
    // A damaged artifact is refetched too.
    flowattr::write_file_atomic(cache_root_ + "/artifacts/" + e.sources.at(0).sha256, "garbage");
    remove_tree(fs::path(r.image.vmlinuz).parent_path().string());
    EXPECT_EQ(cache.fetch(e).status, FetchStatus::ok);
    EXPECT_EQ(flowattr::sha256_file(cache_root_ + "/artifacts/" + e.sources.at(0).sha256), e.sources.at(0).sha256);
}

TEST_F(KernelCacheTest, LeftoversOfADeadFetchAreSweptAndNeverUsed) {
    const std::string deb = build_deb(kGoodConfig);
    KernelEntry e = entry("test", "file:" + deb, flowattr::sha256_file(deb));
    // What a fetch killed mid-way leaves: staging files under tmp/ only.
    write(cache_root_ + "/tmp/tree.x.12345.0/vmlinuz", "half");
    write(cache_root_ + "/tmp/download.url.12345.1.part.12345.2", "half");
    KernelCache cache(cache_root_, false);
    EXPECT_EQ(cache.state(e), CacheState::missing);
    EXPECT_EQ(cache.fetch(e).status, FetchStatus::ok);
    EXPECT_TRUE(entries_in("tmp").empty());
}

TEST_F(KernelCacheTest, ConcurrentFetchWaitsForTheLock) {
    const std::string deb = build_deb(kGoodConfig);
    KernelEntry e = entry("test", "file:" + deb, flowattr::sha256_file(deb));
    flowattr::make_directories(cache_root_);
    std::promise<void> waiting;
    std::future<FetchResult> result;
    {
        FileLock held(cache_root_ + "/lock");  // another "process" (flock is per open file)
        result = std::async(std::launch::async, [&] {
            bool told = false;
            return KernelCache(cache_root_, false).fetch(e, [&](const std::string&, const std::string& m) {
                if (!told && m.find("waiting for the cache lock") != std::string::npos) {
                    told = true;
                    waiting.set_value();
                }
            });
        });
        ASSERT_EQ(waiting.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
        EXPECT_EQ(result.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
        EXPECT_TRUE(FileLock::held_elsewhere(cache_root_ + "/lock"));
    }
    EXPECT_EQ(result.get().status, FetchStatus::ok);
}

TEST_F(KernelCacheTest, UrlSourcesBareImageAndConfigFromLoopbackServer) {
    std::string config = kGoodConfig;
    for (const char* m : {"CONFIG_NET_CLS_BPF=m", "CONFIG_NET_SCH_INGRESS=m", "CONFIG_VETH=m"})
        config.replace(config.find(m), std::strlen(m), std::string(m, std::strlen(m) - 1) + "y");
    const std::string image = make_vmlinuz('u');
    bool cut = false;
    flowattr::test::LoopbackHttpServer server([&](const std::string& path, flowattr::test::LoopbackHttpServer::Conn& c) {
        if (path == "/vmlinuz" && cut) {
            c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(image.size()) + "\r\n\r\n" + image.substr(0, 100));
        } else {
            c.send_response(200, path == "/vmlinuz" ? image : config);
        }
    });
    KernelEntry e = entry("url", "url:" + server.url("/vmlinuz") + ",url:" + server.url("/config"),
                          flowattr::sha256_hex(image) + "," + flowattr::sha256_hex(config));
    KernelCache cache(cache_root_, false);

    cut = true;
    FetchResult broken = cache.fetch(e);
    EXPECT_EQ(broken.status, FetchStatus::unavailable);
    // The 100 bytes that arrived wait in the artifact's .part for the next fetch to resume;
    // nothing is ever in the artifact's own name before its sha256 matched.
    EXPECT_NE(broken.reason.find("100 bytes kept in"), std::string::npos) << broken.reason;
    EXPECT_EQ(entries_in("artifacts"), std::vector<std::string>{flowattr::sha256_hex(image) + ".part"});
    EXPECT_TRUE(entries_in("tmp").empty());

    cut = false;
    FetchResult r = cache.fetch(e);
    ASSERT_EQ(r.status, FetchStatus::ok) << r.reason;
    EXPECT_EQ(flowattr::read_file(r.image.vmlinuz), image);
    EXPECT_EQ(r.image.release, "9.9.9");
    EXPECT_TRUE(r.image.modules.empty());  // all built in
}

TEST(KernelOptions, MissingOptionsAreNamed) {
    EXPECT_TRUE(missing_kernel_options(kGoodConfig).empty());
    std::string config = "CONFIG_BPF_SYSCALL=y\nCONFIG_DEBUG_INFO_BTF=y\n# CONFIG_BPF_LSM is not set\nCONFIG_CGROUP_BPF=y\n"
                         "CONFIG_NET_CLS_BPF=m\nCONFIG_NET_SCH_INGRESS=y\nCONFIG_VETH=m\n";
    EXPECT_EQ(missing_kernel_options(config), std::vector<std::string>{"CONFIG_BPF_LSM is not set"});
    auto all = missing_kernel_options("");
    EXPECT_EQ(all.size(), 7u);
    EXPECT_EQ(all[0], "CONFIG_BPF_SYSCALL is not set");
    // CONFIG_X_Y must not satisfy CONFIG_Y.
    EXPECT_EQ(config_value("CONFIG_XBPF_LSM=y\n", "BPF_LSM"), "");
    EXPECT_EQ(config_value(kGoodConfig, "LSM"), "\"lockdown,yama,bpf\"");
}

TEST(KernelModules, DependenciesFromModinfo) {
    EXPECT_EQ(module_dependencies(make_module("a", "b-c,d")), (std::vector<std::string>{"b_c", "d"}));
    EXPECT_TRUE(module_dependencies(make_module("a", "")).empty());
    EXPECT_THROW(module_dependencies("not an elf"), flowattr::Error);
}

TEST_F(KernelCacheTest, ListAndFetchCli) {
    const std::string deb = build_deb(kGoodConfig);
    write(dir_ + "/kernels.txt", "# test list\n5.15 5.15 none - - x86_64\nlocal 9.9.9 file:linux-image-test.deb " +
                                     flowattr::sha256_file(deb) + " \"lsm=bpf quiet\" x86_64\n");
    const std::vector<std::string> common = {"--kernels", dir_ + "/kernels.txt", "--cache", cache_root_};
    std::ostringstream out, err;
    EXPECT_EQ(run_list_cli(common, out, err), 0) << err.str();
    EXPECT_EQ(out.str(), "NAME   ARCH     VERSION     STATE      SOURCE  [CMDLINE]\n"
                         "5.15   x86_64   5.15        no-source  none\n"
                         "local  x86_64   9.9.9       missing    file:" + dir_ + "/linux-image-test.deb  [lsm=bpf quiet]\n"
                         "cache: " + cache_root_ + "\n");

    std::ostringstream out2, err2;
    std::vector<std::string> args = common;
    args.push_back("local");
    EXPECT_EQ(run_fetch_cli(args, out2, err2), 0) << err2.str();
    EXPECT_NE(out2.str().find("local  ok           9.9.9-test"), std::string::npos) << out2.str();
    EXPECT_NE(err2.str().find("[local] extracting"), std::string::npos) << err2.str();

    // Everything: the none entry is unavailable but not a fetch failure.
    std::ostringstream out3, err3;
    EXPECT_EQ(run_fetch_cli(common, out3, err3), 0) << err3.str();
    EXPECT_NE(out3.str().find("1 ok, 0 unsupported, 1 unavailable (1 without a source)"), std::string::npos) << out3.str();

    std::ostringstream out4, err4;
    args = common;
    args.push_back("nosuch");
    EXPECT_EQ(run_fetch_cli(args, out4, err4), 2);
    EXPECT_NE(err4.str().find("no kernel named 'nosuch' in the list; known: 5.15 local"), std::string::npos) << err4.str();

    std::ostringstream out5, err5;
    EXPECT_EQ(run_fetch_cli({"--bogus"}, out5, err5), 2);
    EXPECT_NE(err5.str().find("kmatrix fetch: The following argument was not expected: --bogus"), std::string::npos);
}

// A list with one bad line is refused whole, before anything is fetched: the good line
// above it is not downloaded either.
TEST_F(KernelCacheTest, MalformedListFetchesNothing) {
    const std::string deb = build_deb(kGoodConfig);
    write(dir_ + "/kernels.txt", "local 9.9.9 file:linux-image-test.deb " + flowattr::sha256_file(deb) +
                                     " - x86_64\nbad 1 file:../elsewhere.deb " + std::string(64, 'a') + " - x86_64\n");
    std::ostringstream out, err;
    EXPECT_EQ(run_fetch_cli({"--kernels", dir_ + "/kernels.txt", "--cache", cache_root_}, out, err), 2);
    EXPECT_NE(err.str().find(dir_ + "/kernels.txt:2: source item 'file:../elsewhere.deb': '..' in the path"),
              std::string::npos)
        << err.str();
    EXPECT_EQ(err.str().find("[local]"), std::string::npos) << "something was fetched: " << err.str();
    EXPECT_EQ(out.str(), "");
    EXPECT_FALSE(std::filesystem::exists(cache_root_ + "/kernels")) << "the cache was written to";
}

}  // namespace
