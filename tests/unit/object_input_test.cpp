// What `flowattr check` / `kmatrix check` accept: a .bpf.o, or the objects an executable
// embeds (found as libbpf-tools embeds them); anything else is one line, exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <set>
#include <sstream>

#include "agent/cli.h"
#include "build_tree.h"
#include "common/file.h"
#include "verify/object_input.h"

namespace {

using flowattr::verify::bpf_objects_in;
using flowattr::verify::InputError;

std::string own_object(const std::string& name) {
    return flowattr::read_file(fa::test::build_dir() + "/bpf/" + name + ".bpf.o");
}

std::string message_for(const std::string& display, const std::string& bytes) {
    try {
        bpf_objects_in(display, bytes);
    } catch (const InputError& e) {
        return e.what();
    }
    return "(accepted)";
}

TEST(ObjectInput, PlainObjectKeepsItsName) {
    auto objects = bpf_objects_in("/x/flow.bpf.o", own_object("flow"));
    ASSERT_EQ(objects.size(), 1u);
    EXPECT_EQ(objects[0].name, "flow");
}

// An executable with two objects inside: both found, each byte-exact, named after the file.
TEST(ObjectInput, EmbeddedObjectsFoundInAnotherElf) {
    std::string flow = own_object("flow"), noop = own_object("noop");
    std::string host = "\x7f" "ELF" + std::string(60, '\0');
    host[4] = 2;
    host[5] = 1;
    host[18] = 62;  // EM_X86_64
    std::string exe = host + "padding \x7f" "ELF but not really" + flow + std::string(13, 'x') + noop + "tail";
    auto objects = bpf_objects_in("/usr/sbin/tool", exe);
    ASSERT_EQ(objects.size(), 2u);
    EXPECT_EQ(objects[0].bytes, flow);
    EXPECT_EQ(objects[1].bytes, noop);
    EXPECT_EQ(objects[0].name, "tool.1");
    EXPECT_EQ(objects[1].name, "tool.2");
    EXPECT_NE(objects[0].origin.find("/usr/sbin/tool@0x"), std::string::npos);
}

TEST(ObjectInput, BadInputNamesTheFileAndTheProblem) {
    EXPECT_EQ(message_for("notes.txt", "hello world, this is not an object"), "notes.txt: not an ELF file (no \\x7fELF magic)");
    EXPECT_EQ(message_for("short.o", std::string("\x7f" "ELF\2\1", 6)), "short.o: truncated ELF header (6 bytes)");
    std::string flow = own_object("flow");
    std::string cut = message_for("cut.bpf.o", flow.substr(0, flow.size() / 2));
    EXPECT_EQ(cut.rfind("malformed BPF object: cut.bpf.o: ", 0), 0u) << cut;
    std::string host = "\x7f" "ELF" + std::string(200, '\0');
    host[4] = 2;  // ELFCLASS64
    host[5] = 1;  // little-endian
    host[18] = 62;
    EXPECT_EQ(message_for("/bin/ls", host), "/bin/ls: an x86_64 ELF file, not a BPF object, and it embeds none");
    host[18] = 40;  // EM_ARM: no machine the matrix has
    EXPECT_EQ(message_for("/bin/arm", host), "/bin/arm: an ELF file for e_machine 40, not a BPF object, and it embeds none");
    EXPECT_THROW(flowattr::verify::read_bpf_objects("/nonexistent/x.bpf.o"), InputError);
    // A directory is not read as an empty file.
    try {
        flowattr::verify::read_bpf_objects(fa::test::build_dir());
        ADD_FAILURE() << "a directory was accepted";
    } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("cannot read " + fa::test::build_dir() + ": Is a directory", 0), 0u)
            << e.what();
    }
}

// `flowattr check` reads through read_bpf_objects_for: an executable of the other architecture
// is refused naming both (its objects target that one), one of the kernel's own and a .bpf.o pass.
TEST(ObjectInput, AnExecutableOfAnotherArchitectureIsRefusedForThisKernel) {
    const std::string x86 = fa::test::build_dir() + "/src/cli/flowattr";
    const std::string object = fa::test::build_dir() + "/bpf/noop.bpf.o";
    EXPECT_FALSE(flowattr::verify::read_bpf_objects_for(x86, "x86_64").empty());
    EXPECT_EQ(flowattr::verify::read_bpf_objects_for(object, "aarch64").size(), 1u);
    try {
        flowattr::verify::read_bpf_objects_for(x86, "aarch64");
        ADD_FAILURE() << "an x86_64 executable was accepted for an aarch64 kernel";
    } catch (const InputError& e) {
        const std::string m = e.what();
        EXPECT_EQ(m.rfind(x86 + " is an x86_64 executable and this kernel is aarch64: ", 0), 0u) << m;
        EXPECT_NE(m.find("kmatrix check"), std::string::npos) << m;
    }
}

// Files of one name are told apart by the fewest trailing directories that do; a name no other
// file has keeps none; the same path twice keeps all.
TEST(ObjectInput, SameNamedFilesAreToldApartByTheirDirectories) {
    using flowattr::distinguishing_dirs;
    using V = std::vector<std::string>;
    EXPECT_EQ(distinguishing_dirs({"/b/x86/probe.bpf.o", "/b/arm/probe.bpf.o", "/b/other.bpf.o"}),
              (V{"x86/", "arm/", ""}));
    EXPECT_EQ(distinguishing_dirs({"a/x/probe.o", "b/x/probe.o"}), (V{"a/x/", "b/x/"}));
    // Relative paths are read from the working directory, and never name ".." as a directory.
    const std::string cwd = std::filesystem::current_path().filename().string();
    EXPECT_EQ(distinguishing_dirs({"probe.o", "./sub/probe.o"}), (V{cwd.empty() ? "" : cwd + "/", "sub/"}));
    EXPECT_EQ(distinguishing_dirs({"/a/b/../probe.o", "/a/c/probe.o"}), (V{"a/", "c/"}));
    EXPECT_EQ(distinguishing_dirs({"/t/probe.o", "/t/probe.o"}), (V{"t/", "t/"}));
    EXPECT_EQ(distinguishing_dirs({"/usr/sbin/biotop", "/cache/arm64/usr/sbin/biotop"}),
              (V{"usr/sbin/", "arm64/usr/sbin/"}));
    EXPECT_EQ(distinguishing_dirs({}), V{});
}

// What `flowattr check` reports them as: each object under its file's telling directories, so a
// report's rows (and `kmatrix check`'s grid, which stages them the same way) stay apart.
TEST(ObjectInput, CheckNamesSameNamedObjectsByTheirDirectories) {
    flowattr::TempDir dir("check-same-name");
    const std::string bytes = own_object("noop");
    for (const char* sub : {"/x86", "/arm"}) {
        flowattr::make_directories(dir.path() + sub);
        flowattr::write_file_atomic(dir.path() + sub + "/noop.bpf.o", bytes);
    }
    auto reader = [](const std::string& path) {
        std::vector<flowattr::agent::FileObject> out;
        for (auto& o : flowattr::verify::read_bpf_objects(path)) out.push_back({o.name, o.origin, std::move(o.bytes)});
        return out;
    };
    std::ostringstream out, err;
    // Loads may fail without privileges (the builder): the names are reported either way.
    flowattr::agent::run_flowattr_cli({"check", "--json", "--load-only", dir.path() + "/x86/noop.bpf.o",
                                       dir.path() + "/arm/noop.bpf.o"},
                                      out, err, {}, reader);
    std::set<std::string> objects;
    std::istringstream lines(out.str());
    for (std::string line; std::getline(lines, line);) objects.insert(nlohmann::json::parse(line).at("object"));
    EXPECT_EQ(objects, (std::set<std::string>{"x86/noop", "arm/noop"})) << out.str() << err.str();
}

// A --section-type whose section no program of the objects is in (a misspelling) is refused
// before anything loads, one line each.
TEST(ObjectInput, CheckRefusesASectionTypeNoProgramIsIn) {
    flowattr::TempDir dir("check-section-type");
    const std::string file = dir.path() + "/noop.bpf.o";
    flowattr::write_file_atomic(file, own_object("noop"));
    auto reader = [](const std::string& path) {
        std::vector<flowattr::agent::FileObject> out;
        for (auto& o : flowattr::verify::read_bpf_objects(path)) out.push_back({o.name, o.origin, std::move(o.bytes)});
        return out;
    };
    std::ostringstream out, err;
    const int rc = flowattr::agent::run_flowattr_cli(
        {"check", "--section-type", "loadbalancer=socket", "--section-type", "tc=xdp", "--section-type", "lb=socket", file},
        out, err, {}, reader);
    EXPECT_EQ(rc, 2);
    EXPECT_EQ(err.str(),
              "flowattr check: --section-type loadbalancer=socket: no program of the objects is in section 'loadbalancer'\n"
              "flowattr check: --section-type lb=socket: no program of the objects is in section 'lb'\n");
    EXPECT_EQ(out.str(), "");
}

// One file given twice, under any spelling of its path, is refused before anything loads:
// it would report twice under one name.
TEST(ObjectInput, CheckRefusesOneFileGivenTwice) {
    using flowattr::repeated_path;
    EXPECT_FALSE(repeated_path({"/t/a.o", "/u/a.o", "/t/b.o"}));
    EXPECT_FALSE(repeated_path({}));
    const auto twice = repeated_path({"/t/a.o", "/t/b.o", "/t/x/../b.o"});
    ASSERT_TRUE(twice);
    EXPECT_EQ(twice->first, 1u);
    EXPECT_EQ(twice->again, 2u);
    EXPECT_TRUE(repeated_path({"a.o", "./a.o"}));

    flowattr::TempDir dir("check-twice");
    const std::string file = dir.path() + "/noop.bpf.o";
    flowattr::write_file_atomic(file, own_object("noop"));
    bool read = false;
    auto reader = [&read](const std::string&) {
        read = true;
        return std::vector<flowattr::agent::FileObject>{};
    };
    std::ostringstream out, err;
    const int rc = flowattr::agent::run_flowattr_cli({"check", file, dir.path() + "/./noop.bpf.o"}, out, err, {}, reader);
    EXPECT_EQ(rc, 2);
    EXPECT_FALSE(read) << "a file was read before the input was refused";
    EXPECT_EQ(err.str(), "flowattr check: " + dir.path() + "/./noop.bpf.o: the same file as " + file + ", given twice\n");
    EXPECT_EQ(out.str(), "");
}

}  // namespace
