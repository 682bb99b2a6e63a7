#include "matrix/brought_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sha256.h"
#include "matrix/vm_suite.h"

namespace flowattr::matrix {

BroughtFiles bring_files(const std::vector<std::string>& paths) {
    BroughtFiles r;
    for (const auto& path : paths) {
        struct stat st;
        BroughtFile f;
        f.path = path;
        f.name = path.substr(path.rfind('/') + 1);
        if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            r.errors.push_back("--file " + path + ": not a readable regular file");
            continue;
        }
        const ElfLinkage linkage = elf_linkage(path);
        f.arch = linkage == ElfLinkage::not_executable ? std::nullopt : elf_arch(path);
        auto clash = std::find_if(r.files.begin(), r.files.end(), [&](const BroughtFile& b) {
            return b.name == f.name && (!b.arch || !f.arch || *b.arch == *f.arch);
        });
        if (clash != r.files.end()) {
            r.errors.push_back("--file " + path + " and " + clash->path + " would both be /exec/" + f.name);
            continue;
        }
        try {
            if (linkage == ElfLinkage::dynamic_exe) f.libraries = shared_library_closure(path);
            f.sha256 = sha256_file(path);
        } catch (const Error& e) {
            r.errors.push_back(std::string("--file ") + e.what());
            continue;
        }
        r.files.push_back(std::move(f));
    }
    return r;
}

std::vector<std::string> add_brought_files(const std::vector<BroughtFile>& files, std::map<Arch, InitramfsInputs>& binaries) {
    std::vector<std::string> notes;
    for (auto& [arch, in] : binaries) {
        std::set<std::string> names, given, library_dirs;
        for (const auto& f : files) {
            names.insert(f.name);
            if (f.arch && *f.arch != arch) continue;
            given.insert(f.name);
            in.extra_files[std::string(kGuestExecDir + 1) + "/" + f.name] = f.path;
            for (const auto& lib : f.libraries) {
                in.extra_files[lib.substr(1)] = lib;
                library_dirs.insert(lib.substr(0, lib.rfind('/')));
            }
        }
        for (const auto& name : names)
            if (!given.count(name))
                notes.push_back(std::string("no ") + arch_name(arch) + " build of " + name + " given: the " +
                                arch_name(arch) + " kernels have no /exec/" + name);
        if (library_dirs.empty()) continue;
        std::string joined;
        for (const auto& d : library_dirs) joined += (joined.empty() ? "" : ":") + d;
        in.generated_files[kGuestLibraryPath + 1] = joined + "\n";
    }
    return notes;
}

std::string libraries_text(const BroughtFile& f) {
    if (f.libraries.empty()) return "";
    const std::size_t n = f.libraries.size() - 1;
    return "this machine's " + f.libraries.front() + " and " + std::to_string(n) + " shared librar" + (n == 1 ? "y" : "ies");
}

nlohmann::json brought_files_json(const std::vector<BroughtFile>& files) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& f : files)
        j.push_back({{"name", f.name},
                     {"path", f.path},
                     {"arch", f.arch ? nlohmann::json(arch_name(*f.arch)) : nlohmann::json()},
                     {"sha256", f.sha256},
                     {"libraries", f.libraries}});
    return j;
}

}  // namespace flowattr::matrix
