#include "matrix/kernel_cache.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "common/env.h"
#include "common/error.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/subprocess.h"
#include "matrix/bzimage.h"
#include "matrix/cache_files.h"
#include "matrix/deb_extract.h"
#include "matrix/guest_arch.h"
#include "matrix/http_fetch.h"

namespace flowattr::matrix {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Bumped when the layout of kernels/<key>/ changes, so old trees are rebuilt, not misread.
const char* const kTreeFormat = "flowattr-kernel-tree-v2";

std::string seconds_since(Clock::time_point start) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(Clock::now() - start).count());
    return buf;
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
    return names;
}

// The last "E: ..." lines of apt's stderr: the part of its output that says what went wrong.
std::string apt_errors(const std::string& err) {
    std::string out;
    std::istringstream in(err);
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, 3, "E: ") == 0) out += (out.empty() ? "" : "; ") + line.substr(3);
    return out.empty() ? "apt-get failed without an E: line" : out;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// ---- private apt --------------------------------------------------------------------------

struct Apt {
    std::string dir;
    ProgressFn progress;

    void say(const std::string& kernel, const std::string& message) const {
        if (progress) progress(kernel, message);
    }

    std::string sources() const {
        const std::string mirror = env_or("FLOWATTR_DEBIAN_MIRROR", "http://deb.debian.org/debian");
        const std::string security = env_or("FLOWATTR_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security");
        const std::string keyring = env_or("FLOWATTR_DEBIAN_KEYRING", "/usr/share/keyrings/debian-archive-keyring.gpg");
        // Every suite a pin may come from; a pin names an exact version, so listing more
        // suites never changes which file is fetched.
        const std::string suites = env_or("FLOWATTR_DEBIAN_SUITES",
                                          "bullseye bullseye-security bookworm bookworm-updates bookworm-security "
                                          "bookworm-backports trixie trixie-updates trixie-security sid");
        if (access(keyring.c_str(), R_OK) != 0)
            throw Error("cannot read the Debian archive keyring " + keyring + " (install debian-archive-keyring or set FLOWATTR_DEBIAN_KEYRING)", errno);
        std::string out = "# written by kmatrix fetch; the machine's own apt sources are never used or changed\n";
        std::istringstream in(suites);
        std::string suite;
        while (in >> suite) {
            bool is_security = suite.size() > 9 && suite.compare(suite.size() - 9, 9, "-security") == 0;
            out += "deb [signed-by=" + keyring + "] " + (is_security ? security : mirror) + " " + suite + " main\n";
        }
        return out;
    }

    void prepare() const {
        for (const char* sub : {"/etc", "/state/lists/partial", "/cache/archives/partial"}) make_directories(dir + sub);
        std::string list = sources();
        std::string path = dir + "/etc/sources.list";
        if (!path_exists(path) || read_file(path) != list) write_file_atomic(path, list);
        // An empty dpkg status: apt must not consult (or care about) what the machine has installed.
        if (!path_exists(dir + "/state/status")) write_file_atomic(dir + "/state/status", "");
    }

    bool has_lists() const {
        for (const auto& name : list_dir(dir + "/state/lists"))
            if (name.find("_Packages") != std::string::npos) return true;
        return false;
    }

    void update(const std::string& kernel) const {
        say(kernel, "apt-get update (private lists in " + dir + ")");
        auto start = Clock::now();
        RunOptions o;
        o.timeout = std::chrono::minutes(10);
        RunResult r = run_command(apt_base_argv(dir, "apt-get") + std::vector<std::string>{"update"}, o);
        if (!r.ok()) throw DownloadError("apt-get update " + r.status_text() + ": " + apt_errors(r.err), 0, r.err);
        say(kernel, "apt-get update done in " + seconds_since(start));
    }

    // Downloads every PKG=VER into workdir; returns the .deb files apt left there.
    std::vector<std::string> download(const std::string& kernel, const std::vector<std::string>& specs,
                                      const std::string& workdir) const {
        prepare();
        if (!has_lists()) update(kernel);
        RunOptions o;
        o.cwd = workdir;
        o.timeout = std::chrono::minutes(30);
        const auto argv = apt_base_argv(dir, "apt-get") + std::vector<std::string>{"download"} + specs;
        RunResult r = run_command(argv, o);
        if (!r.ok()) {
            // Lists may predate the pin (new upload, point release): refresh once and retry.
            say(kernel, "not found with the cached lists (" + apt_errors(r.err) + "); refreshing them");
            update(kernel);
            r = run_command(argv, o);
        }
        if (!r.ok())
            throw DownloadError("apt-get download: " + apt_errors(r.err) +
                                    " (a pinned version may have left the mirror: re-pin it in kernels.txt)",
                                0, r.err);
        std::vector<std::string> debs;
        for (const auto& name : list_dir(workdir))
            if (name.size() > 4 && name.compare(name.size() - 4, 4, ".deb") == 0) debs.push_back(workdir + "/" + name);
        return debs;
    }
};

// ---- tree manifest ------------------------------------------------------------------------

struct Manifest {
    std::vector<std::pair<std::string, std::string>> files;  // sha256, relative path
    std::string release;
    std::string boot;  // how QEMU starts the kernel, as KernelImage::boot says
};

Manifest read_manifest(const std::string& dir) {
    Manifest m;
    std::istringstream in(read_file(dir + "/MANIFEST"));
    std::string line;
    std::getline(in, line);
    if (line != kTreeFormat) throw Error(dir + "/MANIFEST: format '" + line + "', expected " + kTreeFormat);
    while (std::getline(in, line)) {
        if (line.compare(0, 8, "release ") == 0) {
            m.release = line.substr(8);
            continue;
        }
        if (line.compare(0, 5, "boot ") == 0) {
            m.boot = line.substr(5);
            continue;
        }
        std::size_t sp = line.find("  ");
        if (sp != 64) throw Error(dir + "/MANIFEST: malformed line '" + line + "'");
        m.files.emplace_back(line.substr(0, 64), line.substr(66));
    }
    return m;
}

// "" when every file matches; otherwise what is wrong.
std::string verify_tree(const std::string& dir) {
    try {
        Manifest m = read_manifest(dir);
        bool has_vmlinuz = false;
        for (const auto& [sha, rel] : m.files) {
            if (rel == "vmlinuz") has_vmlinuz = true;
            std::string actual = sha256_file(dir + "/" + rel);
            if (actual != sha) return rel + ": sha256 expected " + sha + ", actual " + actual;
        }
        if (!has_vmlinuz) return "MANIFEST lists no vmlinuz";
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void copy_file(const std::string& from, const std::string& to) {
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error("cannot copy " + from + " to " + to, ec.value());
}

FetchResult unavailable(const std::string& reason) {
    FetchResult r;
    r.status = FetchStatus::unavailable;
    r.reason = reason;
    return r;
}

}  // namespace

std::vector<std::string> apt_base_argv(const std::string& apt_dir, const std::string& tool) {
    return {tool,
            "-q",
            "-o", "Dir::Etc::SourceList=" + apt_dir + "/etc/sources.list",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", "Dir::Etc::Preferences=/dev/null",
            "-o", "Dir::Etc::PreferencesParts=/dev/null",
            "-o", "Dir::State=" + apt_dir + "/state",
            "-o", "Dir::State::status=" + apt_dir + "/state/status",
            "-o", "Dir::Cache=" + apt_dir + "/cache",
            // Debian's container images switch apt's binary cache off; without it every call
            // re-parses all suites' lists (~3 s each).
            "-o", "Dir::Cache::pkgcache=pkgcache.bin",
            "-o", "Dir::Cache::srcpkgcache=srcpkgcache.bin",
            "-o", "APT::Architecture=amd64",
            // amd64 and arm64 lists: kernels.txt names kernels of both (guest_arch.h).
            "-o", "APT::Architectures::=amd64",
            "-o", "APT::Architectures::=arm64",
            "-o", "Acquire::Languages=none",
            // Root's apt would hand downloads to the _apt user, which cannot enter a cache under
            // /root; the files are checked against pinned sha256 anyway.
            "-o", "APT::Sandbox::User=" + std::string(geteuid() == 0 ? "root" : "_apt")};
}

const char* fetch_status_name(FetchStatus status) {
    switch (status) {
        case FetchStatus::ok: return "ok";
        case FetchStatus::unavailable: return "unavailable";
        case FetchStatus::unsupported: return "unsupported";
    }
    return "?";
}

const char* cache_state_name(CacheState state) {
    switch (state) {
        case CacheState::cached: return "cached";
        case CacheState::partial: return "partial";
        case CacheState::missing: return "missing";
        case CacheState::no_source: return "no-source";
    }
    return "?";
}

std::vector<std::string> missing_kernel_options(const std::string& config_text) {
    static const char* const kRequired[] = {"BPF_SYSCALL", "DEBUG_INFO_BTF", "BPF_LSM", "CGROUP_BPF",
                                            "NET_CLS_BPF", "NET_SCH_INGRESS", "VETH"};
    std::vector<std::string> missing;
    for (const char* option : kRequired) {
        std::string v = config_value(config_text, option);
        if (v != "y" && v != "m") missing.push_back("CONFIG_" + std::string(option) + " is not set");
    }
    return missing;
}

KernelCache::KernelCache(std::string root, bool offline) : root_(std::move(root)), offline_(offline) {
    std::error_code ec;
    fs::path abs = fs::absolute(root_, ec);
    if (ec) throw Error("cannot resolve cache directory " + root_, ec.value());
    root_ = abs.lexically_normal().string();
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string KernelCache::default_root() {
    std::string dir = env_or("FLOWATTR_CACHE", "");
    if (!dir.empty()) return dir;
    // HOME only, no getpwuid(): the binaries are linked statically, where NSS lookups need the
    // build machine's shared glibc at run time.
    std::string home = env_or("HOME", "");
    if (home.empty()) throw Error("neither FLOWATTR_CACHE nor HOME is set: no place for the kernel cache");
    return home + "/.cache/flowattr";
}

std::string KernelCache::tree_dir(const KernelEntry& entry) const {
    std::string key = sha256_hex(std::string(kTreeFormat) + "\n" + entry.source_text() + "\n" + entry.sha256_text());
    return root_ + "/kernels/" + key.substr(0, 24);
}

CacheState KernelCache::state(const KernelEntry& entry) const {
    const std::vector<SourceItem>& items = entry.sources;
    if (items.empty()) return CacheState::no_source;
    if (path_exists(tree_dir(entry) + "/MANIFEST")) return CacheState::cached;
    for (const auto& item : items)
        if (path_exists(artifact_path(item.sha256))) return CacheState::partial;
    return CacheState::missing;
}

FetchResult KernelCache::fetch(const KernelEntry& entry, const ProgressFn& progress) {
    auto say = [&](const std::string& message) {
        if (progress) progress(entry.name, message);
    };
    const std::vector<SourceItem>& items = entry.sources;
    if (items.empty())
        return unavailable("no source: listed with source none at " + entry.where() + " (not obtainable from here)");

    const std::string dir = tree_dir(entry);
    // A cache nobody may write (a CI cache restored read-only, a read-only mount) still serves
    // the entries it holds whole; no lock is needed where no one can write.
    if (path_exists(root_) && ::access(root_.c_str(), W_OK) != 0) {
        const int err = errno;
        if (path_exists(dir) && verify_tree(dir).empty()) return finish(entry, dir, say);
        throw Error("the cache " + root_ + " is not writable and holds no complete entry for " + entry.name, err);
    }
    for (const char* sub : {"/artifacts", "/kernels", "/tmp"}) make_directories(root_ + sub);
    FileLock lock(root_ + "/lock", [&] { say("waiting for the cache lock (another kmatrix fetch is running)"); });
    // We hold the lock, so whatever is in tmp/ was left by a process that died mid-write.
    for (const auto& name : list_dir(tmp_dir())) remove_tree(tmp_dir() + "/" + name);

    if (path_exists(dir)) {
        std::string problem = verify_tree(dir);
        if (problem.empty()) return finish(entry, dir, say);
        say("cache entry " + dir + " is damaged (" + problem + "); rebuilding it");
        remove_tree(dir);
    }

    // 1. Artifacts, each verified against its pin whether it was cached or just downloaded.
    std::vector<SourceItem> debs, others;
    for (const SourceItem& item : items) {
        const std::string path = artifact_path(item.sha256);
        const std::string label = item.text();
        if (path_exists(path)) {
            std::string actual = sha256_file(path);
            if (actual == item.sha256) continue;
            say("cached " + label + " is damaged (sha256 " + actual + "); fetching it again");
            remove_tree(path);
        }
        if (offline_) return unavailable("not in the cache and --offline: " + label);
        (item.kind == SourceKind::deb ? debs : others).push_back(item);
    }
    try {
        // One apt-get call for all packages of the entry: apt's start-up (reading the lists)
        // costs more than a small package's download.
        if (!debs.empty()) fetch_debs(entry, debs, progress);
        for (const SourceItem& item : others) fetch_artifact(entry, item, progress);
    } catch (const DownloadError& e) {
        return unavailable(e.what());
    }

    // 2. Unpack everything into one staging tree and pick the boot files out of it.
    say("extracting");
    auto start = Clock::now();
    TempPath unpack(unique_temp_path(tmp_dir() + "/unpack", "x"));
    TempPath stage(unique_temp_path(tmp_dir() + "/tree", "x"));
    make_directories(unpack.path() + "/boot");
    make_directories(stage.path() + "/modules");
    for (const SourceItem& item : items) {
        const std::string path = artifact_path(item.sha256);
        switch (detect_artifact(path)) {
            case ArtifactKind::deb:
                try {
                    extract_deb(path, unpack.path());
                } catch (const Error& e) {
                    // Name the source item, not the cache's content-addressed copy, with all
                    // dpkg-deb and tar said: a broken package and a full disk both end here.
                    std::string said = e.log();
                    while (!said.empty() && said.back() == '\n') said.pop_back();
                    for (char& c : said)
                        if (c == '\n') c = ' ';
                    throw Error("cannot unpack " + item.text() + " into the cache (" + said + ")");
                }
                break;
            case ArtifactKind::kernel_image:
                copy_file(path, unpack.path() + "/boot/vmlinuz-" + entry.version);
                break;
            case ArtifactKind::kernel_config:
                copy_file(path, unpack.path() + "/boot/config-" + entry.version);
                break;
            case ArtifactKind::unknown:
                return unavailable(item.text() + " is neither a .deb, a kernel image nor a kernel config");
        }
    }
    KernelTree tree = scan_kernel_tree(unpack.path());
    if (tree.vmlinuz.empty())
        return unavailable("the source holds no vmlinuz (for sid, list linux-binary-* and linux-modules-*, not the linux-image-* metapackage)");
    copy_file(tree.vmlinuz, stage.path() + "/vmlinuz");
    std::string config_text;
    if (!tree.config.empty()) {
        copy_file(tree.config, stage.path() + "/config");
        config_text = read_file(tree.config);
    }
    const GuestArch& arch = guest_arch(entry.arch);
    if (arch.arch != host_arch() && tree.busybox.empty())
        return unavailable(std::string("an ") + arch_name(arch.arch) + " kernel's source must also name busybox-static (deb:busybox-static=VER): the VM cannot run this machine's busybox");
    // The modules of REQUIRED that this kernel builds as modules (=m); missing_module names the
    // first one its source lacks.
    std::string missing_module;
    auto wanted_of = [&](const std::vector<RequiredModule>& required) {
        std::vector<std::string> wanted;
        for (const RequiredModule& m : required) {
            std::string value = config_text.empty() ? "" : config_value(config_text, m.option);
            // Built in (=y) needs no file; not set is reported by the option check as unsupported.
            bool needed = config_text.empty() ? tree.modules.count(m.name) > 0 : value == "m";
            if (!needed) continue;
            if (!tree.modules.count(m.name) && missing_module.empty())
                missing_module = std::string("module ") + m.name + ".ko (CONFIG_" + m.option + "=m) is not in the source's packages";
            wanted.push_back(m.name);
        }
        return wanted;
    };
    std::vector<std::string> wanted = wanted_of(required_modules());
    std::vector<std::string> channel_wanted = wanted_of(arch.channel_modules);
    if (!missing_module.empty()) return unavailable(missing_module);
    std::vector<std::string> modules = collect_modules(tree, wanted, stage.path() + "/modules");
    std::vector<std::string> channel_modules =
        channel_wanted.empty() ? std::vector<std::string>{} : collect_modules(tree, channel_wanted, stage.path() + "/channel-modules");
    if (!tree.busybox.empty()) copy_file(tree.busybox, stage.path() + "/busybox");

    std::vector<std::string> files = {"vmlinuz"};
    std::string boot = "vmlinuz";
    if (arch.pvh_boot) {
        say("unpacking the kernel for a PVH boot");
        PvhKernel pvh = pvh_kernel_of(read_file(stage.path() + "/vmlinuz"));
        if (pvh.elf.empty()) {
            boot = "vmlinuz (no PVH boot: " + pvh.why_not + ")";
        } else {
            write_file_atomic(stage.path() + "/vmlinux", pvh.elf);
            files.push_back("vmlinux");
            boot = std::string("pvh: vmlinux, the ") + kernel_compression_name(pvh.compression) + " payload of vmlinuz";
        }
    }
    std::string manifest = std::string(kTreeFormat) + "\nrelease " + tree.release + "\nboot " + boot + "\n";
    if (!config_text.empty()) files.push_back("config");
    for (const auto& m : modules) files.push_back("modules/" + m);
    for (const auto& m : channel_modules) files.push_back("channel-modules/" + m);
    if (!tree.busybox.empty()) files.push_back("busybox");
    for (const auto& rel : files) manifest += sha256_file(stage.path() + "/" + rel) + "  " + rel + "\n";
    write_file_atomic(stage.path() + "/MANIFEST", manifest);
    stage.commit(dir);
    say("extracted " + tree.release + ": vmlinuz " + human_size(file_size(dir + "/vmlinuz")) + ", " +
        (config_text.empty() ? "no config" : "config") + ", " + std::to_string(modules.size()) + " module(s), boot " + boot +
        " in " + seconds_since(start));

    std::string problem = verify_tree(dir);
    if (!problem.empty()) throw Error("kernel tree " + dir + " failed verification right after it was written: " + problem);
    return finish(entry, dir, say);
}

void KernelCache::fetch_artifact(const KernelEntry& entry, const SourceItem& item, const ProgressFn& progress) const {
    auto say = [&](const std::string& message) {
        if (progress) progress(entry.name, message);
    };
    const std::string dest = artifact_path(item.sha256);
    const std::string label = item.text();
    auto start = Clock::now();
    if (item.kind == SourceKind::url) {
        say("downloading " + item.spec);
        HttpOptions options;
        options.cancel = cancel_;
        options.on_progress = [&](std::uint64_t done, std::uint64_t total) {
            say("  " + human_size(done) + (total ? " of " + human_size(total) : std::string()));
        };
        // Straight to the artifact: download() writes DEST.part, kept when a transfer is cut so
        // the next fetch resumes it, and renames it only once its sha256 is the pinned one.
        DownloadResult r = download(item.spec, dest, item.sha256, options);
        say("downloaded " + human_size(r.size) + (r.resumed_from ? " (resumed at " + human_size(r.resumed_from) + ")" : "") +
            " in " + seconds_since(start) + ", sha256 ok");
        return;
    }
    if (!path_exists(item.spec)) throw DownloadError("no such file: " + item.spec);
    say("copying " + item.spec);
    TempPath work(unique_temp_path(tmp_dir() + "/fetch", source_kind_name(item.kind)));
    const std::string got = work.path();
    copy_file(item.spec, got);
    say("verifying sha256 of " + human_size(file_size(got)));
    std::string actual = sha256_file(got);
    if (actual != item.sha256) throw ChecksumError(label, item.sha256, actual);
    work.commit(dest);
    say("fetched " + label + ": " + human_size(file_size(dest)) + " in " + seconds_since(start) + ", sha256 ok");
}

void KernelCache::fetch_debs(const KernelEntry& entry, const std::vector<SourceItem>& items, const ProgressFn& progress) const {
    auto say = [&](const std::string& message) {
        if (progress) progress(entry.name, message);
    };
    std::vector<std::string> specs;
    std::string names;
    // PKG:ARCH=VER: the kernel's architecture, whatever this machine's is.
    auto arch_spec = [&](const SourceItem& item) {
        const std::size_t eq = item.spec.find('=');
        return item.spec.substr(0, eq) + ":" + guest_arch(entry.arch).debian_arch + item.spec.substr(eq);
    };
    for (const auto& item : items) {
        specs.push_back(arch_spec(item));
        names += (names.empty() ? "" : ", ") + item.spec;
    }
    auto start = Clock::now();
    say("downloading " + names + " (apt, private config)");
    TempPath work(unique_temp_path(tmp_dir() + "/fetch", "deb"));
    make_directories(work.path());
    std::vector<std::string> debs = Apt{apt_dir(), progress}.download(entry.name, specs, work.path());
    for (const auto& item : items) {
        // apt names the file PKG_VERSION_ARCH.deb.
        const std::string prefix = item.spec.substr(0, item.spec.find('=')) + "_";
        std::string got;
        for (const auto& deb : debs)
            if (fs::path(deb).filename().string().compare(0, prefix.size(), prefix) == 0) got = deb;
        if (got.empty()) throw Error("apt-get download " + item.spec + " left no " + prefix + "*.deb in " + work.path());
        std::string actual = sha256_file(got);
        if (actual != item.sha256) throw ChecksumError("deb:" + item.spec, item.sha256, actual);
        const std::string dest = artifact_path(item.sha256);
        if (std::rename(got.c_str(), dest.c_str()) != 0) throw Error("cannot rename " + got + " to " + dest, errno);
        say("fetched " + item.spec + ": " + human_size(file_size(dest)) + ", sha256 ok");
    }
    say("downloaded " + std::to_string(items.size()) + " package(s) in " + seconds_since(start));
}

FetchResult KernelCache::finish(const KernelEntry& entry, const std::string& dir, const std::function<void(const std::string&)>& say) const {
    Manifest m = read_manifest(dir);
    FetchResult r;
    r.status = FetchStatus::ok;
    r.image.entry = entry;
    r.image.vmlinuz = dir + "/vmlinuz";
    r.image.modules_dir = dir + "/modules";
    r.image.release = m.release;
    r.image.boot = m.boot;
    for (const auto& [sha, rel] : m.files) {
        if (rel == "vmlinuz") r.image.image_sha256 = sha;
        if (rel == "vmlinux") r.image.pvh_vmlinux = dir + "/vmlinux";
        if (rel == "config") r.image.config = dir + "/config";
        if (rel.compare(0, 8, "modules/") == 0) r.image.modules.push_back(rel.substr(8));
        if (rel.compare(0, 16, "channel-modules/") == 0) r.image.channel_modules_dir = dir + "/channel-modules";
        if (rel == "busybox") r.image.busybox = dir + "/busybox";
    }
    if (r.image.config.empty()) {
        r.reason = "the source ships no kernel config: required options not checked";
        say("ready (" + r.reason + ")");
        return r;
    }
    std::vector<std::string> missing = missing_kernel_options(read_file(r.image.config));
    if (!missing.empty()) {
        r.status = FetchStatus::unsupported;
        for (const auto& m : missing) r.reason += (r.reason.empty() ? "" : "; ") + m;
        say("unsupported: " + r.reason);
        return r;
    }
    say("ready: " + m.release + ", vmlinuz sha256 " + r.image.image_sha256.substr(0, 16) + "..., modules: " +
        [&] {
            std::string s;
            for (const auto& f : r.image.modules) s += (s.empty() ? "" : " ") + f;
            return s.empty() ? std::string("none needed") : s;
        }());
    return r;
}

}  // namespace flowattr::matrix
