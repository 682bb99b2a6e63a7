#include <gtest/gtest.h>

#include <set>

#include "build_tree.h"
#include "common/error.h"
#include "matrix/kernel_list.h"

namespace {

using flowattr::matrix::parse_kernel_list;

const std::string kSha1(64, '1');
const std::string kSha2(64, '2');

std::string error_of(const std::string& text, const std::string& file = "kernels.txt") {
    try {
        parse_kernel_list(text, file);
    } catch (const flowattr::Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(KernelList, ParsesEntriesCommentsAndQuotedCmdline) {
    const std::string text = "# header\n"
                             "\n"
                             "6.1  6.1.176  deb:linux-image-6.1.0-50-cloud-amd64=6.1.176-1  " + kSha1 + "  -  x86_64  # trailing\n"
                             "7.2 7.2.13 deb:linux-binary-7.2=7.2.13-1,linux-modules-7.2=7.2.13-1 " + kSha1 + "," + kSha2 +
                             " \"lsm=a,bpf quiet\" x86_64\n"
                             "5.15 5.15 none - - x86_64\n";
    auto list = parse_kernel_list(text, "dir/kernels.txt");
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].name, "6.1");
    EXPECT_EQ(list[0].version, "6.1.176");
    EXPECT_EQ(list[0].source_text(), "deb:linux-image-6.1.0-50-cloud-amd64=6.1.176-1");
    EXPECT_EQ(list[0].sha256_text(), kSha1);
    EXPECT_EQ(list[0].cmdline, "") << "the file's '-' means none";
    EXPECT_EQ(list[0].arch, flowattr::matrix::Arch::x86_64);
    EXPECT_EQ(list[0].file, "dir/kernels.txt");
    EXPECT_EQ(list[0].line, 3);
    EXPECT_EQ(list[1].cmdline, "lsm=a,bpf quiet");
    EXPECT_EQ(list[2].source_text(), "none");
    EXPECT_EQ(list[2].sha256_text(), "-");

    const auto& items = list[1].sources;
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].kind, flowattr::matrix::SourceKind::deb);
    EXPECT_EQ(items[1].kind, flowattr::matrix::SourceKind::deb);  // no prefix: continues the previous kind
    EXPECT_EQ(items[1].spec, "linux-modules-7.2=7.2.13-1");
    EXPECT_EQ(items[1].sha256, kSha2);
    EXPECT_TRUE(list[2].sources.empty());
}

TEST(KernelList, WrongFieldCountNamesFileLineAndFields) {
    std::string text = "# c\n" + std::string(10, '\n') + "6.1 6.1.176 none -\n";
    EXPECT_EQ(error_of(text), "kernels.txt:12: expected 6 fields (name version source sha256 cmdline arch), got 4");
}

TEST(KernelList, DuplicateNamesNameBothLines) {
    std::string text = "a 1 none - - x86_64\nb 1 none - - x86_64\na 2 none - - x86_64\n";
    EXPECT_EQ(error_of(text), "kernels.txt:3: duplicate kernel name 'a' (first declared at kernels.txt:1)");
}

TEST(KernelList, RejectsBadFields) {
    auto err = [](const std::string& line) { return error_of(line + "\n"); };
    EXPECT_NE(err("a/b 1 none - - x86_64").find("kernels.txt:1: name 'a/b'"), std::string::npos);
    EXPECT_NE(err("a 1 none " + kSha1 + " - x86_64").find("expected '-' for source none"), std::string::npos);
    EXPECT_NE(err("a 1 deb:linux-image " + kSha1 + " - x86_64").find("expected PKG=VERSION"), std::string::npos);
    EXPECT_NE(err("a 1 deb:p=1,q=2 " + kSha1 + " - x86_64").find("expected 2 sha256 value(s)"), std::string::npos);
    EXPECT_NE(err("a 1 deb:p=1 ABC - x86_64").find("sha256 'ABC': expected 64 lowercase hex"), std::string::npos);
    EXPECT_NE(err("a 1 url:ftp://x/y " + kSha1 + " - x86_64").find("http:// or https://"), std::string::npos);
    EXPECT_NE(err("a 1 git:x " + kSha1 + " - x86_64").find("expected none, deb:"), std::string::npos);
    EXPECT_NE(err("a 1 none - - arm64").find("arch 'arm64'"), std::string::npos);
    EXPECT_NE(err("a 1 none - \"lsm=x - x86_64").find("unterminated"), std::string::npos);
}

// The arch column as kernels.txt spells it (the kernel's own name, not Debian's arm64).
TEST(KernelList, ArchColumnNamesX86_64OrAarch64) {
    namespace fm = flowattr::matrix;
    auto list = fm::parse_kernel_list("a 1 none - - x86_64\nb 1 none - - aarch64\n", "k.txt");
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].arch, fm::Arch::x86_64);
    EXPECT_EQ(list[1].arch, fm::Arch::aarch64);
    for (fm::Arch a : {fm::Arch::x86_64, fm::Arch::aarch64}) EXPECT_EQ(fm::parse_arch(fm::arch_name(a)), a);
    EXPECT_FALSE(fm::parse_arch("arm64"));
    EXPECT_EQ(fm::host_arch(), fm::Arch::x86_64) << "this project's builders are x86_64";
}

// Every malformed input is refused with FILE:LINE and what was expected there.
TEST(KernelList, MalformedInputsNameTheLineAndWhatWasExpected) {
    const std::string good = "a 1 none - - x86_64\n";
    struct Case {
        const char* what;
        std::string text;
        int line;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {"missing fields", good + "b 1 none -\n", 2, "expected 6 fields (name version source sha256 cmdline arch), got 4"},
        {"a field too many", "a 1 none - - x86_64 extra\n", 1, "expected 6 fields"},
        {"duplicate name", good + good, 2, "duplicate kernel name 'a' (first declared at kernels.txt:1)"},
        {"name with a slash", "a/b 1 none - - x86_64\n", 1, "name 'a/b': expected up to 64 letters"},
        {"name climbing up", ".. 1 none - - x86_64\n", 1, "name '..': expected up to 64 letters"},
        {"name too long", std::string(65, 'n') + " 1 none - - x86_64\n", 1, "starting with a letter or digit"},
        {"bad version", "a 6.1! none - - x86_64\n", 1, "version '6.1!': expected a kernel version"},
        {"unknown source scheme", "a 1 git:x " + kSha1 + " - x86_64\n", 1, "expected none, deb:PKG=VER"},
        {"deb without version", "a 1 deb:linux-image " + kSha1 + " - x86_64\n", 1, "expected PKG=VERSION"},
        {"empty source item", "a 1 deb:p=1, " + kSha1 + " - x86_64\n", 1, "empty deb item"},
        {"url without host", "a 1 url:https:// " + kSha1 + " - x86_64\n", 1, "with a host"},
        {"ftp url", "a 1 url:ftp://x/y " + kSha1 + " - x86_64\n", 1, "expected an http:// or https:// URL"},
        {"file: escaping upward", "a 1 file:../../etc/shadow " + kSha1 + " - x86_64\n", 1, "'..' in the path"},
        {"sha256 too short", "a 1 deb:p=1 abc - x86_64\n", 1, "sha256 'abc': expected 64 lowercase hex digits"},
        {"sha256 upper case", "a 1 deb:p=1 " + std::string(64, 'A') + " - x86_64\n", 1, "expected 64 lowercase hex"},
        {"sha256 count", "a 1 deb:p=1,q=2 " + kSha1 + " - x86_64\n", 1, "expected 2 sha256 value(s)"},
        {"sha256 for none", "a 1 none " + kSha1 + " - x86_64\n", 1, "expected '-' for source none"},
        {"empty cmdline", "a 1 none - \"\" x86_64\n", 1, "cmdline: expected '-' for none"},
        {"unterminated quote", "a 1 none - \"lsm=x - x86_64\n", 1, "unterminated '\"'"},
        {"stray quote", "a 1 none - lsm=\"x\" x86_64\n", 1, "stray '\"' inside field 5"},
        {"bad arch", "a 1 none - - arm64\n", 1, "arch 'arm64': expected x86_64 or aarch64"},
        {"CRLF file", "# list\r\n" + good, 1, "carriage return (a CRLF file?)"},
        {"byte-order mark", "\xEF\xBB\xBF" + good, 1, "byte-order mark"},
        {"not UTF-8", good + "# caf\xE9\n", 2, "not UTF-8 text"},
        {"NUL byte", good + std::string("b 1 none - -\0 x86_64\n", 21), 2, "control byte 0x00 at column 13"},
        {"very long line", good + "# " + std::string(5000, 'x') + "\n", 2, "bytes long: expected at most 4096"},
    };
    ASSERT_GE(cases.size(), 20u);
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const std::string error = error_of(c.text);
        const std::string where = "kernels.txt:" + std::to_string(c.line) + ": ";
        EXPECT_EQ(error.rfind(where, 0), 0u) << error;
        EXPECT_NE(error.find(c.expected), std::string::npos) << error;
    }
}

TEST(KernelList, RelativeFilePathsAreRelativeToTheListFile) {
    auto list = parse_kernel_list("k 1 file:images/vmlinuz,file:/abs/config " + kSha1 + "," + kSha2 + " - x86_64\n",
                                  "/etc/flowattr/kernels.txt");
    EXPECT_EQ(list[0].source_text(), "file:/etc/flowattr/images/vmlinuz,file:/abs/config");
}

TEST(KernelList, LoadMissingFileThrows) {
    EXPECT_THROW(flowattr::matrix::load_kernel_list("/nonexistent/kernels.txt"), flowattr::Error);
}

// The repository's own list: parses, keeps the user's matrix (never dropped) and pins Debian's kernels.
TEST(KernelList, RepositoryKernelsTxt) {
    auto list = flowattr::matrix::load_kernel_list(fa::test::source_dir() + "/kernels.txt");
    std::set<std::string> names;
    for (const auto& e : list) names.insert(e.name);
    for (const char* wanted : {"5.15", "6.1", "6.6", "6.11", "5.10", "5.10-nolsm", "6.12"}) EXPECT_TRUE(names.count(wanted)) << wanted;
    for (const auto& e : list) {
        if (e.name == "6.1" || e.name == "5.10" || e.name == "6.12") {
            EXPECT_EQ(e.source_text().compare(0, 4, "deb:"), 0) << e.name;
        }
        if (e.name == "5.10") {
            EXPECT_NE(e.cmdline.find(",bpf"), std::string::npos);
        }
        if (e.name == "5.10-nolsm") {
            EXPECT_EQ(e.cmdline, "");
        }
    }
}

}  // namespace
