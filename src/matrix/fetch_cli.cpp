#include "matrix/fetch_cli.h"

#include <cstdlib>
#include <iomanip>
#include <set>

#include "common/error.h"
#include "matrix/http_fetch.h"
#include "matrix/kernel_cache.h"
#include "matrix/kernel_list.h"

namespace flowattr::matrix {
namespace {

struct CommonArgs {
    std::string kernels;
    std::string cache;
    bool offline = false;
    bool help = false;
    std::vector<std::string> names;
};

const char* const kFetchUsage =
    "usage: kmatrix fetch [NAME...] [--offline] [--kernels FILE] [--cache DIR]\n"
    "  Downloads, verifies (sha256) and unpacks the kernels of kernels.txt into the cache.\n"
    "  --offline      use only what is cached; a missing kernel is reported unavailable\n"
    "  --kernels FILE the kernel list (default $FLOWATTR_KERNELS or ./kernels.txt)\n"
    "  --cache DIR    the cache (default $FLOWATTR_CACHE or ~/.cache/flowattr)\n";
const char* const kListUsage =
    "usage: kmatrix list [--kernels FILE] [--cache DIR]\n"
    "  Shows every kernel of kernels.txt and whether it is in the cache.\n";

// Returns false (after printing why) on a usage error.
bool parse_args(const std::vector<std::string>& args, bool allow_fetch_options, CommonArgs& a, std::ostream& err) {
    const char* env_kernels = std::getenv("FLOWATTR_KERNELS");
    a.kernels = env_kernels && *env_kernels ? env_kernels : "kernels.txt";
    for (std::size_t i = 0; i < args.size(); i++) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            a.help = true;
        } else if (arg == "--kernels" || arg == "--cache") {
            if (i + 1 >= args.size()) {
                err << "kmatrix: " << arg << " needs a value\n";
                return false;
            }
            (arg == "--kernels" ? a.kernels : a.cache) = args[++i];
        } else if (allow_fetch_options && arg == "--offline") {
            a.offline = true;
        } else if (!arg.empty() && arg[0] == '-') {
            err << "kmatrix: unknown option " << arg << "\n";
            return false;
        } else if (allow_fetch_options) {
            a.names.push_back(arg);
        } else {
            err << "kmatrix: unexpected argument " << arg << "\n";
            return false;
        }
    }
    if (a.cache.empty()) a.cache = KernelCache::default_root();
    return true;
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

int run_fetch_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    CommonArgs a;
    try {
        if (!parse_args(args, true, a, err)) {
            err << kFetchUsage;
            return 2;
        }
        if (a.help) {
            out << kFetchUsage;
            return 0;
        }
        std::vector<KernelEntry> entries;
        if (!select(load_kernel_list(a.kernels), a.names, entries, err)) return 2;

        KernelCache cache(a.cache, a.offline);
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
                    if (e.source != "none") unavailable_with_source++;
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
        return 2;
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
        if (!parse_args(args, false, a, err)) {
            err << kListUsage;
            return 2;
        }
        if (a.help) {
            out << kListUsage;
            return 0;
        }
        std::vector<KernelEntry> entries = load_kernel_list(a.kernels);
        KernelCache cache(a.cache, true);
        const std::size_t w = name_width(entries);
        out << std::left << std::setw(int(w)) << "NAME" << "  " << std::setw(10) << "VERSION" << "  " << std::setw(9) << "STATE"
            << "  SOURCE  [CMDLINE]\n";
        for (const auto& e : entries) {
            out << std::setw(int(w)) << e.name << "  " << std::setw(10) << e.version << "  " << std::setw(9)
                << cache_state_name(cache.state(e)) << "  " << e.source;
            if (!e.cmdline.empty()) out << "  [" << e.cmdline << "]";
            out << "\n";
        }
        out << "cache: " << cache.root() << "\n";
        return 0;
    } catch (const KernelListError& e) {
        err << "kmatrix list: " << e.what() << "\n";
        return 2;
    } catch (const Error& e) {
        err << "kmatrix list: " << e.what() << "\n";
        return 3;
    }
}

}  // namespace flowattr::matrix
