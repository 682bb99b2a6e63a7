#include "matrix/deb_extract.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "matrix/cache_files.h"

namespace flowattr::matrix {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// "sch_ingress.ko.xz" -> "sch_ingress"; "" when not a module file name.
std::string module_name_of(const std::string& file_name) {
    for (const char* ext : {".ko", ".ko.xz", ".ko.zst", ".ko.gz"}) {
        if (ends_with(file_name, ext)) {
            std::string name = file_name.substr(0, file_name.size() - std::strlen(ext));
            std::replace(name.begin(), name.end(), '-', '_');
            return name;
        }
    }
    return "";
}

std::string read_prefix(const std::string& path, std::size_t n) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path, errno);
    std::string buf(n, '\0');
    in.read(buf.data(), std::streamsize(n));
    buf.resize(std::size_t(in.gcount()));
    return buf;
}

}  // namespace

ArtifactKind detect_artifact(const std::string& path) {
    std::string head = read_prefix(path, 4096);
    if (starts_with(head, "!<arch>\ndebian-binary")) return ArtifactKind::deb;
    if (head.size() > 0x206 && head.compare(0x202, 4, "HdrS") == 0) return ArtifactKind::kernel_image;
    // arm64 Image (Documentation/arch/arm64/booting.rst): magic "ARM\x64" at 0x38.
    if (head.size() > 0x3c && head.compare(0x38, 4, "ARM\x64") == 0) return ArtifactKind::kernel_image;
    if (head.find("\nCONFIG_") != std::string::npos || starts_with(head, "CONFIG_")) return ArtifactKind::kernel_config;
    return ArtifactKind::unknown;
}

void extract_deb(const std::string& deb, const std::string& dest) {
    make_directories(dest);
    check_command({"dpkg-deb", "-x", deb, dest}, "cannot extract " + deb);
}

KernelTree scan_kernel_tree(const std::string& root) {
    KernelTree tree;
    std::set<std::string> releases;
    auto note = [&](std::string& slot, const std::string& path, const std::string& what) {
        if (!slot.empty() && slot != path) throw Error(root + ": more than one " + what + ": " + slot + " and " + path);
        slot = path;
    };
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        const std::string path = it->path().string();
        const std::string rel = path.substr(root.size() + 1);
        const std::string base = it->path().filename().string();
        const std::string parent = rel.find('/') == std::string::npos ? "" : rel.substr(0, rel.rfind('/'));
        // (usr/)lib/modules/<release>/...; direct_child: a file right in that directory.
        std::string modules_release;
        bool direct_child = false;
        for (const char* prefix : {"lib/modules/", "usr/lib/modules/"}) {
            if (starts_with(rel, prefix)) {
                std::string rest = rel.substr(std::strlen(prefix));
                modules_release = rest.substr(0, rest.find('/'));
                direct_child = rest.find('/') == rest.rfind('/');
            }
        }
        if (rel == "bin/busybox" || rel == "usr/bin/busybox") {
            note(tree.busybox, path, "busybox");
        } else if (parent == "boot" && starts_with(base, "vmlinuz-")) {
            note(tree.vmlinuz, path, "vmlinuz");
            releases.insert(base.substr(8));
        } else if (parent == "boot" && starts_with(base, "config-")) {
            note(tree.config, path, "kernel config");
            releases.insert(base.substr(7));
        } else if (!modules_release.empty() && direct_child) {
            // Files directly in lib/modules/<release>/ (sid's linux-binary and linux-base).
            if (base == "vmlinuz") note(tree.vmlinuz, path, "vmlinuz");
            if (base == "config") note(tree.config, path, "kernel config");
            releases.insert(modules_release);
        } else if (!modules_release.empty()) {
            std::string name = module_name_of(base);
            if (!name.empty()) {
                tree.modules[name] = path;
                releases.insert(modules_release);
            }
        }
    }
    if (ec) throw Error("cannot walk " + root, ec.value());
    if (releases.size() > 1) {
        std::string list;
        for (const auto& r : releases) list += (list.empty() ? "" : ", ") + r;
        throw Error(root + ": the source holds more than one kernel release (" + list + ")");
    }
    if (!releases.empty()) tree.release = *releases.begin();
    return tree;
}

std::vector<std::string> module_dependencies(const std::string& ko) {
    if (ko.size() < sizeof(Elf64_Ehdr) || ko.compare(0, 4, ELFMAG) != 0 || ko[EI_CLASS] != ELFCLASS64)
        throw Error("not a 64-bit ELF kernel module");
    Elf64_Ehdr eh;
    std::memcpy(&eh, ko.data(), sizeof eh);
    auto section = [&](std::size_t i) {
        Elf64_Shdr sh;
        std::size_t off = std::size_t(eh.e_shoff) + i * eh.e_shentsize;
        if (eh.e_shentsize < sizeof sh || off + sizeof sh > ko.size()) throw Error("kernel module: section header out of bounds");
        std::memcpy(&sh, ko.data() + off, sizeof sh);
        if (sh.sh_type != SHT_NOBITS && sh.sh_offset + sh.sh_size > ko.size()) throw Error("kernel module: section out of bounds");
        return sh;
    };
    if (eh.e_shstrndx >= eh.e_shnum) throw Error("kernel module: no section name table");
    Elf64_Shdr names = section(eh.e_shstrndx);
    for (std::size_t i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh = section(i);
        if (sh.sh_name >= names.sh_size) continue;
        const char* name = ko.data() + names.sh_offset + sh.sh_name;
        if (std::strncmp(name, ".modinfo", names.sh_size - sh.sh_name) != 0) continue;
        // .modinfo is a run of NUL-terminated "key=value" strings.
        std::string info = ko.substr(std::size_t(sh.sh_offset), std::size_t(sh.sh_size));
        std::size_t pos = 0;
        while (pos < info.size()) {
            std::size_t end = info.find('\0', pos);
            if (end == std::string::npos) end = info.size();
            std::string entry = info.substr(pos, end - pos);
            pos = end + 1;
            if (!starts_with(entry, "depends=")) continue;
            std::vector<std::string> deps;
            std::string list = entry.substr(8);
            std::size_t start = 0;
            while (start <= list.size()) {
                std::size_t comma = list.find(',', start);
                std::string dep = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                std::replace(dep.begin(), dep.end(), '-', '_');
                if (!dep.empty()) deps.push_back(dep);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            return deps;
        }
        return {};
    }
    return {};
}

std::string read_module(const std::string& path) {
    std::vector<std::string> argv;
    if (ends_with(path, ".ko.xz")) {
        argv = {"xz", "-dc", "--", path};
    } else if (ends_with(path, ".ko.zst")) {
        argv = {"zstd", "-dcq", "--", path};
    } else if (ends_with(path, ".ko.gz")) {
        argv = {"gzip", "-dc", "--", path};
    } else {
        return read_file(path);
    }
    return check_command(argv, "cannot decompress " + path).out;
}

const std::vector<RequiredModule>& required_modules() {
    static const std::vector<RequiredModule> modules = {
        {"sch_ingress", "NET_SCH_INGRESS"},  // clsact qdisc for tc programs
        {"cls_bpf", "NET_CLS_BPF"},          // tc bpf classifier
        {"veth", "VETH"},                    // the test network namespaces' links
    };
    return modules;
}

std::string config_value(const std::string& config_text, const std::string& option) {
    const std::string key = "CONFIG_" + option + "=";
    std::size_t pos = 0;
    while ((pos = config_text.find(key, pos)) != std::string::npos) {
        if (pos == 0 || config_text[pos - 1] == '\n') {
            std::size_t end = config_text.find('\n', pos);
            std::string value = config_text.substr(pos + key.size(), end == std::string::npos ? std::string::npos : end - pos - key.size());
            if (!value.empty() && value.back() == '\r') value.pop_back();
            return value;
        }
        pos += key.size();
    }
    return "";
}

std::vector<std::string> collect_modules(const KernelTree& tree, const std::vector<std::string>& names, const std::string& out_dir) {
    make_directories(out_dir);
    std::vector<std::string> pending(names.rbegin(), names.rend());
    std::set<std::string> done;
    std::map<std::string, std::string> needed_by;
    while (!pending.empty()) {
        std::string name = pending.back();
        pending.pop_back();
        if (!done.insert(name).second) continue;
        auto it = tree.modules.find(name);
        if (it == tree.modules.end()) {
            std::string why = needed_by.count(name) ? " (needed by " + needed_by[name] + ")" : "";
            throw Error("module " + name + ".ko" + why + " is not in the kernel's packages");
        }
        std::string bytes = read_module(it->second);
        for (const std::string& dep : module_dependencies(bytes)) {
            needed_by.emplace(dep, name);
            pending.push_back(dep);
        }
        write_file_atomic(out_dir + "/" + name + ".ko", bytes);
    }
    std::vector<std::string> files;
    for (const auto& name : done) files.push_back(name + ".ko");
    return files;
}

}  // namespace flowattr::matrix
