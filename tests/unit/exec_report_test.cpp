#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "build_tree.h"
#include "common/file.h"
#include "matrix/exec_report.h"
#include "matrix/report.h"
#include "matrix/outcome.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;
using namespace flowattr::matrix::fixtures;

namespace {

// A cell whose guest sent LINES, classified the way run_cell does.
fm::CellResult exec_cell(const std::string& name, std::vector<std::string> lines,
                         fm::VmEnd end = fm::VmEnd::exited) {
    fm::CellResult c;
    c.name = name;
    c.version = name + ".1";
    c.ran_vm = true;
    std::string channel;
    for (const auto& l : lines) channel += l + "\n";
    c.suite = fm::parse_results(channel);
    fm::ClassifyInput in;
    in.suite = c.suite;
    in.console = std::string(fm::kInitMarker) + "\n";
    in.end = end;
    in.qemu_exit_code = 0;
    in.limit_s = 60;
    c.cls = fm::classify(in);
    return c;
}

std::vector<std::string> ran(const std::string& exec) {
    return {init_line("exec"), setup_line(), exec, done_line()};
}

TEST(ExecOutcome, ExitZeroPassesAnythingElseFailsWithItsLastLine) {
    EXPECT_EQ(exec_cell("6.1", ran(exec_line(0, "fine\n"))).cls.outcome, fm::Outcome::pass);
    auto failed = exec_cell("5.10", ran(exec_line(3, "step one\nno bpf_link here\n\n")));
    EXPECT_EQ(failed.cls.outcome, fm::Outcome::test_fail);
    EXPECT_EQ(failed.cls.reason, "exit 3: no bpf_link here");
    auto killed = exec_cell("5.10", ran(exec_line(139, "", 11)));
    EXPECT_EQ(killed.cls.reason, "killed by signal 11");
    EXPECT_EQ(fm::exec_status(killed), "killed by signal 11");
}

TEST(ExecOutcome, TimeoutAndSilenceAreNamed) {
    auto slow = exec_cell("6.1", ran(exec_line(137, "", 9, true)));
    EXPECT_EQ(slow.cls.outcome, fm::Outcome::timeout);
    EXPECT_EQ(fm::exec_status(slow), "timed out");
    // The guest went quiet mid-command: the command was what ran.
    auto silent = exec_cell("6.1", {init_line("exec"), setup_line()}, fm::VmEnd::idle_timeout);
    EXPECT_EQ(silent.cls.outcome, fm::Outcome::timeout);
    EXPECT_EQ(silent.cls.test, "the command");
    EXPECT_EQ(fm::exec_status(silent), "did not run");
}

TEST(ExecReport, JsonJunitAndTextAgree) {
    std::vector<fm::CellResult> cells = {exec_cell("6.1", ran(exec_line(0, "ok <6.1>\n"))),
                                         exec_cell("5.10", ran(exec_line(3, "old & tired\n"))),
                                         fm::unrun_cell("6.6", "6.6.0", fm::Outcome::unavailable, "no source")};
    fm::BroughtFile t{"t", "/home/me/t", fm::Arch::x86_64, std::string(64, 'a'), {"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"}};
    auto doc = nlohmann::json::parse(fm::exec_results_json({"./t", "-v"}, {t}, cells));
    EXPECT_EQ(doc["command"], nlohmann::json({"./t", "-v"}));
    EXPECT_EQ(doc["files"], nlohmann::json::parse(R"([{"name":"t","path":"/home/me/t","arch":"x86_64","sha256":")" +
                                                  std::string(64, 'a') +
                                                  R"(","libraries":["/lib64/ld-linux-x86-64.so.2","/lib/x86_64-linux-gnu/libc.so.6"]}])"));
    ASSERT_EQ(doc["kernels"].size(), 3u);
    EXPECT_EQ(doc["kernels"][0]["outcome"], "pass");
    EXPECT_EQ(doc["kernels"][1]["exit_code"], 3);
    EXPECT_EQ(doc["kernels"][1]["output"], "old & tired\n");
    EXPECT_TRUE(doc["kernels"][2]["exit_code"].is_null());
    EXPECT_EQ(doc["kernels"][2]["outcome"], "unavailable");

    std::string failed = fm::exec_junit_xml(cells[1]);
    EXPECT_NE(failed.find("tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\""), std::string::npos) << failed;
    EXPECT_NE(failed.find("name=\"./t -v\""), std::string::npos);
    EXPECT_NE(failed.find("<system-out>old &amp; tired\n</system-out>"), std::string::npos) << failed;
    EXPECT_NE(fm::exec_junit_xml(cells[0]).find("failures=\"0\" errors=\"0\" skipped=\"0\""), std::string::npos);
    EXPECT_NE(fm::exec_junit_xml(cells[2]).find("<skipped message=\"unavailable: no source\"/>"), std::string::npos);

    std::string text = fm::exec_text(cells);
    EXPECT_NE(text.find("=== 5.10 (6.1.0-50-cloud-amd64): exit 3 in 0.50 s ===\nold & tired\n"), std::string::npos)
        << text;
    EXPECT_EQ(text.find("6.6"), std::string::npos);  // nothing ran there: no heading
    EXPECT_NE(fm::exec_markdown(cells, {t}).find("| 5.10 | exit 3 | 0.50 s | old & tired |"), std::string::npos);
    const std::string brought =
        "/exec/t (x86_64; /home/me/t, sha256 aaaaaaaaaaaa…; with this machine's /lib64/ld-linux-x86-64.so.2 and 1 shared library)";
    EXPECT_NE(fm::exec_markdown(cells, {t}).find("Brought along: " + brought + ".\n"), std::string::npos)
        << fm::exec_markdown(cells, {t});
    EXPECT_EQ(fm::exec_markdown(cells, {}).find("Brought along"), std::string::npos);
    EXPECT_NE(fm::exec_html(cells, {t}).find("<code>./t -v</code>"), std::string::npos);
    EXPECT_NE(fm::exec_html(cells, {t}).find("<p>Brought along: " + fm::html_escape(brought) + ".</p>"), std::string::npos);
    // Shown as sh would need it typed; the guest got the argv itself.
    auto quoted = exec_cell("6.1", ran(wire(record(RecordType::exec, {{"argv", {"sh", "-c", "echo it's; exit 3"}},
                                                                         {"rc", 3}, {"timed_out", false}}))));
    EXPECT_NE(fm::exec_junit_xml(quoted).find("name=\"sh -c &apos;echo it&apos;\\&apos;&apos;s; exit 3&apos;\""),
              std::string::npos)
        << fm::exec_junit_xml(quoted);
}

// docs/OUTPUT.md's table names every field exec.json carries, and no other.
TEST(ExecReport, OutputDocNamesEveryField) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/OUTPUT.md");
    auto section = doc.substr(doc.find("# `kmatrix exec --json` output"));
    auto json = nlohmann::json::parse(
        fm::exec_results_json({"t"}, {fm::BroughtFile{"t", "./t", std::nullopt, "00", {}}}, {exec_cell("6.1", ran(exec_line(0)))}));
    for (const auto& [key, value] : json.items()) {
        if (key == "kernels" || key == "files") continue;
        EXPECT_NE(section.find("| `" + key + "` |"), std::string::npos) << key;
    }
    for (const auto& [key, value] : json["files"][0].items())
        EXPECT_NE(section.find("| `files[]." + key + "` |"), std::string::npos) << key;
    for (const auto& [key, value] : json["kernels"][0].items()) {
        bool documented = section.find("| `kernels[]." + key + "` |") != std::string::npos ||
                          section.find("\"" + key + "\"") != std::string::npos;
        EXPECT_TRUE(documented) << key;
    }
}

}  // namespace
