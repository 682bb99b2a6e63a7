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
    EXPECT_EQ(list[0].source, "deb:linux-image-6.1.0-50-cloud-amd64=6.1.176-1");
    EXPECT_EQ(list[0].sha256, kSha1);
    EXPECT_EQ(list[0].cmdline, "-");
    EXPECT_EQ(flowattr::matrix::extra_cmdline(list[0]), "");
    EXPECT_EQ(list[0].arch, "x86_64");
    EXPECT_EQ(list[0].file, "dir/kernels.txt");
    EXPECT_EQ(list[0].line, 3);
    EXPECT_EQ(list[1].cmdline, "lsm=a,bpf quiet");
    EXPECT_EQ(list[2].source, "none");
    EXPECT_EQ(list[2].sha256, "-");

    auto items = flowattr::matrix::source_items(list[1]);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].kind, "deb");
    EXPECT_EQ(items[1].kind, "deb");  // no prefix: continues the previous kind
    EXPECT_EQ(items[1].spec, "linux-modules-7.2=7.2.13-1");
    EXPECT_EQ(items[1].sha256, kSha2);
    EXPECT_TRUE(flowattr::matrix::source_items(list[2]).empty());
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

TEST(KernelList, RelativeFilePathsAreRelativeToTheListFile) {
    auto list = parse_kernel_list("k 1 file:images/vmlinuz,file:/abs/config " + kSha1 + "," + kSha2 + " - x86_64\n",
                                  "/etc/flowattr/kernels.txt");
    EXPECT_EQ(list[0].source, "file:/etc/flowattr/images/vmlinuz,file:/abs/config");
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
            EXPECT_EQ(e.source.compare(0, 4, "deb:"), 0) << e.name;
        }
        if (e.name == "5.10") {
            EXPECT_NE(e.cmdline.find(",bpf"), std::string::npos);
        }
        if (e.name == "5.10-nolsm") {
            EXPECT_EQ(e.cmdline, "-");
        }
    }
}

}  // namespace
