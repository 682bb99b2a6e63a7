#include "matrix/kernel_list.h"

#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"

namespace flowattr::matrix {

const char* source_kind_name(SourceKind kind) {
    switch (kind) {
        case SourceKind::deb: return "deb";
        case SourceKind::url: return "url";
        case SourceKind::file: return "file";
    }
    return "?";
}

const char* arch_name(Arch arch) {
    switch (arch) {
        case Arch::x86_64: return "x86_64";
        case Arch::aarch64: return "aarch64";
    }
    return "?";
}

std::optional<Arch> parse_arch(const std::string& name) {
    for (Arch a : {Arch::x86_64, Arch::aarch64})
        if (name == arch_name(a)) return a;
    return std::nullopt;
}

Arch host_arch() {
#if defined(__x86_64__)
    return Arch::x86_64;
#elif defined(__aarch64__)
    return Arch::aarch64;
#else
#error "flowattr's matrix runs on x86_64 and aarch64 hosts"
#endif
}

std::string KernelEntry::source_text() const {
    if (sources.empty()) return "none";
    std::string text;
    for (const auto& item : sources) text += (text.empty() ? "" : ",") + item.text();
    return text;
}

std::string KernelEntry::sha256_text() const {
    if (sources.empty()) return "-";
    std::string text;
    for (const auto& item : sources) text += (text.empty() ? "" : ",") + item.sha256;
    return text;
}

namespace {

const char* const kFields = "name version source sha256 cmdline arch";

bool all_of_chars(const std::string& s, const std::string& extra) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!std::isalnum(c) && extra.find(char(c)) == std::string::npos) return false;
    return true;
}

bool is_sha256(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string::npos) return out;
        start = pos + 1;
    }
}

std::string dirname_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

class LineError {
public:
    LineError(const std::string& file, int line) : prefix_(file + ":" + std::to_string(line) + ": ") {}
    [[noreturn]] void fail(const std::string& what) const { throw KernelListError(prefix_ + what); }

private:
    std::string prefix_;
};

// Longer than any real entry (the sid line with three packages is about 400 bytes): a file
// that is not a kernel list, or a line run together with others.
constexpr std::size_t kMaxLineBytes = 4096;

// What the line is made of, before its fields: text, no carriage return, no control bytes.
void check_line_text(const std::string& line, int line_no, const LineError& at) {
    if (line.size() > kMaxLineBytes)
        at.fail("line is " + std::to_string(line.size()) + " bytes long: expected at most " +
                std::to_string(kMaxLineBytes) + " (is this a kernel list?)");
    if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0)
        at.fail("starts with a UTF-8 byte-order mark: save the file without one");
    if (!line.empty() && line.back() == '\r')
        at.fail("line ends in a carriage return (a CRLF file?): save it with LF line endings");
    for (std::size_t i = 0; i < line.size(); i++) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (c < 0x20 && c != '\t') {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", c);
            at.fail("control byte " + std::string(hex) + " at column " + std::to_string(i + 1) + ": expected text");
        }
    }
    // nlohmann's strict serialiser is a kept UTF-8 validator; its message names the byte.
    try {
        (void)nlohmann::json(line).dump();
    } catch (const nlohmann::json::type_error& e) {
        std::string what = e.what();
        at.fail("not UTF-8 text (" + what.substr(what.find(']') + 2) + ")");
    }
}

std::vector<std::string> tokenize(const std::string& line, const LineError& at) {
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < line.size()) {
        if (std::isspace(static_cast<unsigned char>(line[i]))) {
            i++;
            continue;
        }
        if (line[i] == '#') break;
        if (line[i] == '"') {
            std::size_t close = line.find('"', i + 1);
            if (close == std::string::npos) at.fail("unterminated '\"' in field " + std::to_string(tokens.size() + 1));
            tokens.push_back(line.substr(i + 1, close - i - 1));
            i = close + 1;
            continue;
        }
        std::size_t end = i;
        while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) end++;
        tokens.push_back(line.substr(i, end - i));
        if (tokens.back().find('"') != std::string::npos)
            at.fail("stray '\"' inside field " + std::to_string(tokens.size()) + " ('" + tokens.back() +
                    "'): quote the whole field");
        i = end;
    }
    return tokens;
}

// Parses the source field into items (kind + spec, no sha yet); an item without a "kind:"
// prefix continues the previous kind, so "deb:a=1,b=1" lists two packages.
std::vector<SourceItem> parse_source(const std::string& source, const std::string& base_dir, const LineError& at) {
    std::vector<SourceItem> items;
    if (source == "none") return items;
    std::optional<SourceKind> kind;
    for (const std::string& raw : split(source, ',')) {
        std::string spec = raw;
        for (SourceKind k : {SourceKind::deb, SourceKind::url, SourceKind::file}) {
            const std::string prefix = std::string(source_kind_name(k)) + ":";
            if (raw.compare(0, prefix.size(), prefix) == 0) {
                kind = k;
                spec = raw.substr(prefix.size());
            }
        }
        if (!kind)
            at.fail("source '" + source + "': expected none, deb:PKG=VER[,PKG=VER...], url:URL[,url:URL...] or file:PATH");
        if (spec.empty()) at.fail("source '" + source + "': empty " + source_kind_name(*kind) + " item");
        if (kind == SourceKind::deb) {
            std::size_t eq = spec.find('=');
            std::string pkg = eq == std::string::npos ? spec : spec.substr(0, eq);
            std::string ver = eq == std::string::npos ? "" : spec.substr(eq + 1);
            if (eq == std::string::npos || !all_of_chars(pkg, "+.-") || !all_of_chars(ver, ".+~:-"))
                at.fail("source item 'deb:" + spec + "': expected PKG=VERSION with an exact version");
        } else if (kind == SourceKind::url) {
            std::size_t scheme = spec.compare(0, 7, "http://") == 0 ? 7 : spec.compare(0, 8, "https://") == 0 ? 8 : 0;
            if (!scheme || scheme == spec.size() || spec[scheme] == '/')
                at.fail("source item 'url:" + spec + "': expected an http:// or https:// URL with a host");
        } else {
            // A file: path names a file of the user's, never one reached by climbing out of a
            // directory: "..", as a path component, is refused.
            if (("/" + spec + "/").find("/../") != std::string::npos)
                at.fail("source item 'file:" + spec + "': '..' in the path; name the file without climbing up");
            // A relative file: path is relative to the kernels.txt that names it, not to the cwd.
            if (spec[0] != '/') spec = base_dir + "/" + spec;
        }
        items.push_back(SourceItem{*kind, spec, ""});
    }
    return items;
}

}  // namespace

std::vector<KernelEntry> parse_kernel_list(const std::string& text, const std::string& file) {
    std::vector<KernelEntry> entries;
    std::map<std::string, int> seen;
    const std::string base_dir = dirname_of(file);
    int line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() + 1 : nl + 1;
        line_no++;
        LineError at(file, line_no);
        check_line_text(line, line_no, at);
        std::vector<std::string> f = tokenize(line, at);
        if (f.empty()) continue;
        if (f.size() != 6)
            at.fail("expected 6 fields (" + std::string(kFields) + "), got " + std::to_string(f.size()));

        KernelEntry e;
        e.name = f[0];
        e.version = f[1];
        const std::string& source = f[2];
        const std::string& sha256 = f[3];
        e.cmdline = f[4];
        e.file = file;
        e.line = line_no;
        if (!all_of_chars(e.name, "._-") || !std::isalnum(static_cast<unsigned char>(e.name[0])) || e.name.size() > 64)
            at.fail("name '" + e.name +
                    "': expected up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names "
                    "cache and report files)");
        if (!all_of_chars(e.version, ".+~-"))
            at.fail("version '" + e.version + "': expected a kernel version such as 6.1.176");
        std::vector<SourceItem> items = parse_source(source, base_dir, at);
        if (items.empty()) {
            if (sha256 != "-") at.fail("sha256 '" + sha256 + "': expected '-' for source none");
        } else {
            std::vector<std::string> sums = split(sha256, ',');
            if (sums.size() != items.size())
                at.fail("expected " + std::to_string(items.size()) + " sha256 value(s), one per source artifact in source order, got " +
                        std::to_string(sums.size()));
            for (std::size_t i = 0; i < sums.size(); i++) {
                if (!is_sha256(sums[i])) at.fail("sha256 '" + sums[i] + "': expected 64 lowercase hex digits");
                items[i].sha256 = sums[i];
            }
            // file: paths are resolved here, so later stages never depend on the cwd.
            e.sources = std::move(items);
        }
        if (e.cmdline.empty()) at.fail("cmdline: expected '-' for none, not an empty field");
        if (e.cmdline == "-") e.cmdline.clear();
        const std::optional<Arch> arch = parse_arch(f[5]);
        if (!arch) at.fail("arch '" + f[5] + "': expected x86_64 or aarch64");
        e.arch = *arch;

        auto [it, inserted] = seen.emplace(e.name, line_no);
        if (!inserted)
            at.fail("duplicate kernel name '" + e.name + "' (first declared at " + file + ":" + std::to_string(it->second) + ")");
        entries.push_back(std::move(e));
    }
    return entries;
}

std::vector<KernelEntry> load_kernel_list(const std::string& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const Error& e) {
        throw KernelListError(e.what());
    }
    return parse_kernel_list(text, path);
}

}  // namespace flowattr::matrix
