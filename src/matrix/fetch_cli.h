#pragma once
// `kmatrix fetch [NAME...] [--offline]` and `kmatrix list`, as library functions so the kmatrix
// main only dispatches and the transcripts can be tested without a process.
#include <CLI/CLI.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "matrix/kernel_list.h"

namespace flowattr::matrix {

// Where a kmatrix command's kernels come from: the list, the cache, whether to download.
struct KernelSourceOptions {
    std::string kernels = "kernels.txt";
    std::string cache;  // "" means $FLOWATTR_CACHE or ~/.cache/flowattr (cache_root())
    bool offline = false;
    std::string cache_root() const;
    // The list at `kernels`; when it does not exist, the KernelListError says where a list
    // comes from (a kmatrix run outside the source tree finds no ./kernels.txt).
    std::vector<KernelEntry> load_kernels() const;
};

// --kernels, --cache and, WITH_OFFLINE, --offline: declared and worded once for every kmatrix
// command (fetch and list here, run/repro/check/lab/exec in kmatrix_cli.cpp).
void add_kernel_source_options(CLI::App& app, KernelSourceOptions& source, bool with_offline);

// args: everything after "fetch". Options: --offline, --kernels FILE (default $FLOWATTR_KERNELS
// or ./kernels.txt), --cache DIR (default $FLOWATTR_CACHE or ~/.cache/flowattr), --help.
// Progress goes to err ("[6.1] downloading ..."), one result line per kernel to out.
// Exit status: 0 every kernel that has a source is cached (ok or unsupported); 1 some kernel
// with a source is unavailable; 2 usage error or a malformed kernel list (nothing fetched);
// 3 infrastructure error or sha256 mismatch.
int run_fetch_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// args: everything after "list". Options: --kernels FILE, --cache DIR, --help. Prints each
// entry with its cache state (cached / partial / missing / no-source) without fetching.
int run_list_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// One line each, for `kmatrix --help` and the commands' own help.
const char* fetch_description();
const char* list_description();

}  // namespace flowattr::matrix
