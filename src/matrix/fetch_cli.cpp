#include "matrix/fetch_cli.h"

#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <set>

#include "common/cli_parse.h"
#include "common/error.h"
#include "matrix/http_fetch.h"
#include "matrix/kernel_cache.h"
#include "matrix/kernel_list.h"

namespace flowattr::matrix {
namespace {

struct CommonArgs {
    KernelSourceOptions source;
    std::vector<std::string> names;
};

// fetch's and list's options; an exit code when there is nothing more to do (--help, or a
// usage error, both printed).
std::optional<int> parse_args(const std::vector<std::string>& args, bool fetch, CommonArgs& a, std::ostream& out,
                              std::ostream& err) {
    auto app = cli::make_app(fetch ? "kmatrix fetch" : "kmatrix list", fetch ? fetch_description() : list_description());
    add_kernel_source_options(*app, a.source, fetch);
    if (fetch) {
        app->add_option("NAME", a.names, "only these kernels (default: every kernel)")->type_name("")->default_str("");
        app->footer("Exit: 0 every kernel that has a source is cached, 1 some kernel with a source is unavailable,\n"
                    "2 bad input (nothing fetched), 3 a download failed or its sha256 differs from the pin.");
    }
    return cli::parse(*app, args, out, err);
}

// The entries named on the command line (all when none), in kernels.txt order.
bool select(const std::vector<KernelEntry>& all, const std::vector<std::string>& names, std::vector<KernelEntry>& out,
            std::ostream& err) {
    std::set<std::string> wanted(names.begin(), names.end());
    for (const auto& e : all)
        if (wanted.empty() || wanted.count(e.name)) out.push_back(e);
    for (const auto& n : names) {
        bool found = false;
        for (const auto& e : all) found = found || e.name == n;
        if (!found) {
            err << "kmatrix: no kernel named '" << n << "' in the list; known:";
            for (const auto& e : all) err << " " << e.name;
            err << "\n";
            return false;
        }
    }
    return true;
}

std::size_t name_width(const std::vector<KernelEntry>& entries) {
    std::size_t w = 4;
    for (const auto& e : entries) w = std::max(w, e.name.size());
    return w;
}

}  // namespace

std::string KernelSourceOptions::cache_root() const { return cache.empty() ? KernelCache::default_root() : cache; }

std::vector<KernelEntry> KernelSourceOptions::load_kernels() const {
    std::error_code ec;
    if (!std::filesystem::exists(kernels, ec) && !ec)
        throw KernelListError("no kernel list at " + kernels +
                              ": give one with --kernels FILE or $FLOWATTR_KERNELS (the default is kernels.txt "
                              "in the working directory, as in the source tree)");
    return load_kernel_list(kernels);
}

void add_kernel_source_options(CLI::App& app, KernelSourceOptions& source, bool with_offline) {
    app.add_option("--kernels", source.kernels, "the kernel list")->type_name("FILE")->envname("FLOWATTR_KERNELS");
    app.add_option("--cache", source.cache, "the kernel cache (default $FLOWATTR_CACHE or ~/.cache/flowattr)")
        ->type_name("DIR");
    if (with_offline)
        app.add_flag("--offline", source.offline, "use only cached kernels; a missing one is reported unavailable");
}

const char* fetch_description() { return "download and verify (sha256) the kernels of kernels.txt into the cache"; }
const char* list_description() { return "show the kernels of kernels.txt and whether each is in the cache"; }

int run_fetch_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    CommonArgs a;
    try {
        if (auto done = parse_args(args, true, a, out, err)) return *done;
        std::vector<KernelEntry> entries;
        if (!select(a.source.load_kernels(), a.names, entries, err)) return cli::kUsageExit;

        KernelCache cache(a.source.cache_root(), a.source.offline);
        const std::size_t w = name_width(entries);
        int fetched = 0, unsupported = 0, unavailable = 0, unavailable_with_source = 0;
        for (const auto& e : entries) {
            FetchResult r = cache.fetch(e, [&](const std::string& kernel, const std::string& message) {
                err << "[" << kernel << "] " << message << "\n" << std::flush;
            });
            out << std::left << std::setw(int(w)) << e.name << "  " << std::setw(11) << fetch_status_name(r.status) << "  ";
            switch (r.status) {
                case FetchStatus::ok:
                    fetched++;
                    out << r.image.release << "  " << r.image.vmlinuz;
                    break;
                case FetchStatus::unsupported:
                    unsupported++;
                    out << r.image.release << "  " << r.reason;
                    break;
                case FetchStatus::unavailable:
                    unavailable++;
                    if (!e.sources.empty()) unavailable_with_source++;
                    out << r.reason;
                    break;
            }
            out << "\n" << std::flush;
        }
        out << fetched << " ok, " << unsupported << " unsupported, " << unavailable << " unavailable ("
            << (unavailable - unavailable_with_source) << " without a source)\n";
        return unavailable_with_source ? 1 : 0;
    } catch (const KernelListError& e) {
        err << "kmatrix fetch: " << e.what() << "\n";
        return cli::kUsageExit;
    } catch (const ChecksumError& e) {
        err << "kmatrix fetch: " << e.what() << "\n  the downloaded file is not the pinned one; it was not kept\n";
        return 3;
    } catch (const Error& e) {
        err << "kmatrix fetch: " << e.what() << "\n";
        if (!e.log().empty()) err << e.log() << (e.log().back() == '\n' ? "" : "\n");
        return 3;
    }
}

int run_list_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    CommonArgs a;
    try {
        if (auto done = parse_args(args, false, a, out, err)) return *done;
        std::vector<KernelEntry> entries = a.source.load_kernels();
        KernelCache cache(a.source.cache_root(), true);
        const std::size_t w = name_width(entries);
        out << std::left << std::setw(int(w)) << "NAME" << "  " << std::setw(7) << "ARCH" << "  " << std::setw(10) << "VERSION"
            << "  " << std::setw(9) << "STATE" << "  SOURCE  [CMDLINE]\n";
        for (const auto& e : entries) {
            out << std::setw(int(w)) << e.name << "  " << std::setw(7) << arch_name(e.arch) << "  " << std::setw(10) << e.version
                << "  " << std::setw(9) << cache_state_name(cache.state(e)) << "  " << e.source_text();
            if (!e.cmdline.empty()) out << "  [" << e.cmdline << "]";
            out << "\n";
        }
        out << "cache: " << cache.root() << "\n";
        return 0;
    } catch (const KernelListError& e) {
        err << "kmatrix list: " << e.what() << "\n";
        return cli::kUsageExit;
    } catch (const Error& e) {
        err << "kmatrix list: " << e.what() << "\n";
        return 3;
    }
}

}  // namespace flowattr::matrix
