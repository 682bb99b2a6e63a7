#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "matrix/progress_board.h"
#include "matrix/report.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;
using namespace flowattr::matrix::fixtures;

namespace {

fm::CellResult ran(const std::string& name, fm::Outcome o, std::vector<std::string> lines, const std::string& reason = "") {
    fm::CellResult c;
    c.name = name;
    c.version = name + ".5";
    c.image_sha256 = std::string(64, 'a');
    c.initramfs_sha256 = std::string(64, 'b');
    c.accel = "tcg";
    c.cmdline = "console=ttyS0 panic=-1 quiet lsm=bpf";
    c.dir = "out/" + name;
    c.console_log = "out/" + name + "/console.log";
    c.ran_vm = true;
    std::string channel;
    for (const auto& l : lines) channel += l + "\n";
    c.suite = fm::parse_results(channel);
    c.cls = {o, reason, {}};
    c.marks = {1000.0, 1002.5, 1003.0, 1008.0, 1008.4};
    c.timings = {2.5, 0.5, 8.4};
    return c;
}

std::vector<fm::CellResult> sample() {
    auto good = ran("6.1", fm::Outcome::pass,
                    {init_line(), setup_line(), load_line(0, "prog ok <&>\n"), list_line(2),
                     passing_test("Flow", "counts", R"(,"attach_mode":"tcx")"),
                     test_line("Flow.lsm", 0, gtest_json("Flow", "lsm", "SKIPPED"), "", 2.0, 2.5,
                               "[ RUN      ] Flow.lsm\n./t.cpp:9: Skipped\nno <LSM> here\n[  SKIPPED ] Flow.lsm (1 ms)\n"),
                     done_line()},
                    "1 passed, 1 skipped");
    auto bad = ran("5.10", fm::Outcome::test_fail,
                   {init_line(), setup_line(), load_line(0), list_line(2), passing_test("Flow", "counts"),
                    test_line("Flow.lsm", 1, gtest_json("Flow", "lsm", "COMPLETED", "Expected <1> got \\\"2\\\""))},
                   "1 of 2 tests failed | pipe");
    bad.cls.test = "Flow.lsm";
    auto missing = fm::unrun_cell("6.6", "6.6", fm::Outcome::unavailable, "no source");
    return {good, bad, missing};
}

TEST(Junit, PropertiesAndTestcases) {
    auto cells = sample();
    std::string x = fm::junit_xml(cells[0]);
    EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 0), 0u);
    for (const char* p : {R"(name="kernel.version" value="6.1.5")", R"(name="accel" value="tcg")",
                          R"(name="cmdline" value="console=ttyS0 panic=-1 quiet lsm=bpf")",
                          R"(name="attach_modes" value="tcx")", R"(name="outcome" value="pass")"})
        EXPECT_NE(x.find(p), std::string::npos) << p;
    EXPECT_NE(x.find("kernel.image_sha256\" value=\"" + std::string(64, 'a')), std::string::npos);
    EXPECT_NE(x.find(R"(classname="kernel.6.1.Flow" name="counts")"), std::string::npos);
    EXPECT_NE(x.find(R"(<skipped message="no &lt;LSM&gt; here"/>)"), std::string::npos) << x;
    EXPECT_NE(x.find("prog ok &lt;&amp;&gt;"), std::string::npos);  // load --check output, escaped
    EXPECT_NE(x.find(R"(tests="4" failures="0" errors="0" skipped="1")"), std::string::npos) << x;
}

// The architecture is a dimension of every report: a JUnit property, a column of the tables
// and a key of results.json.
TEST(Report, ArchitectureIsReportedPerKernel) {
    auto cells = sample();
    cells[2].arch = fm::Arch::aarch64;
    EXPECT_NE(fm::junit_xml(cells[0]).find(R"(name="arch" value="x86_64")"), std::string::npos);
    EXPECT_NE(fm::junit_xml(cells[2]).find(R"(name="arch" value="aarch64")"), std::string::npos);
    const std::string table = fm::summary_table(cells);
    EXPECT_EQ(table.rfind("kernel  arch     version", 0), 0u) << table;
    EXPECT_NE(table.find("6.6     aarch64"), std::string::npos) << table;
    EXPECT_EQ(fm::unrun_cell("6.1-arm64", "6.1", fm::Outcome::unavailable, "x", fm::Arch::aarch64).arch, fm::Arch::aarch64);
    cells[0].qemu_command = "qemu-system-aarch64 -machine virt -append 'console=ttyAMA0 panic=-1'";
    EXPECT_NE(fm::junit_xml(cells[0]).find(R"(name="qemu.command" value="qemu-system-aarch64 -machine virt -append &apos;console=ttyAMA0 panic=-1&apos;")"),
              std::string::npos)
        << fm::junit_xml(cells[0]);
    const auto j = nlohmann::json::parse(fm::results_json(cells, fm::RunInfo{}));
    EXPECT_EQ(j["kernels"][0]["arch"], "x86_64");
    // Each test's guest CPU, as the guest counted it (the fixture's: three fifths busy).
    const auto& first_test = j["kernels"][0]["tests"][0];
    EXPECT_DOUBLE_EQ(first_test["busy_s"].get<double>(), 0.6 * first_test["seconds"].get<double>());
    EXPECT_DOUBLE_EQ(first_test["idle_s"].get<double>(), 0.4 * first_test["seconds"].get<double>());
    EXPECT_EQ(j["kernels"][2]["arch"], "aarch64");
}

TEST(Junit, FailuresErrorsAndUnrunKernels) {
    auto cells = sample();
    std::string x = fm::junit_xml(cells[1]);
    EXPECT_NE(x.find(R"(<failure message="Expected &lt;1&gt; got &quot;2&quot;")"), std::string::npos) << x;
    std::string u = fm::junit_xml(cells[2]);
    EXPECT_NE(u.find(R"(<skipped message="unavailable: no source"/>)"), std::string::npos) << u;
    auto panic = cells[1];
    panic.cls = {fm::Outcome::panic, "Kernel panic - not syncing: Fatal exception", "Flow.crash"};
    panic.suite.running_test = "Flow.crash";
    std::string p = fm::junit_xml(panic);
    EXPECT_NE(p.find(R"(<error type="panic")"), std::string::npos);
    EXPECT_NE(p.find(R"(name="Flow.crash")"), std::string::npos);
}

TEST(Junit, ControlCharactersNeverReachTheXml) {
    EXPECT_EQ(fm::xml_escape(std::string("a\x1b[0mb\x01\n")), "a?[0mb?\n");
}

TEST(Summary, TableMarkdownAndJson) {
    auto cells = sample();
    std::string t = fm::summary_table(cells);
    EXPECT_NE(t.find("kernel"), std::string::npos);
    EXPECT_NE(t.find("6.1 "), std::string::npos);
    EXPECT_NE(t.find("unavailable"), std::string::npos);
    EXPECT_NE(t.find("1/0/1"), std::string::npos);
    fm::RunInfo info{1000.0, 1010.0, "KVM probe failed; using TCG", false, "kernels.txt", fm::RunKind::suite, {}, {}};
    std::string md = fm::summary_markdown(cells, info);
    EXPECT_NE(md.find("| 6.1 | x86_64 | 6.1.5 | ✅ pass |"), std::string::npos) << md;
    EXPECT_NE(md.find("failed \\| pipe"), std::string::npos);
    // The per-test grid has the HTML grid's columns: none for the unavailable 6.6, named above it.
    EXPECT_NE(md.find("No column: no VM ran for 6.6 (unavailable).\n\n| test | 6.1 | 5.10 |\n"), std::string::npos) << md;
    EXPECT_NE(md.find("| Flow.lsm | skip | fail |\n"), std::string::npos) << md;
    std::string js = fm::results_json(cells, info);
    EXPECT_NE(js.find("\"exit_code\": 10"), std::string::npos);
    EXPECT_NE(js.find("\"console_log\": \"6.1/console.log\""), std::string::npos);
}

// A CI log may keep only the end of the output: under the table, each failed test's message
// (bounded), or a failed cell's whole reason; nothing for cells that passed or were not run.
TEST(Summary, FailedTestsMessagesFollowTheTable) {
    auto cells = sample();
    std::string t = fm::summary_table(cells);
    EXPECT_NE(t.find("\n5.10: Flow.lsm failed:\n    Expected <1> got \"2\"\n"), std::string::npos) << t;
    EXPECT_EQ(t.find("6.1: "), std::string::npos) << t;
    EXPECT_EQ(t.find("6.6: "), std::string::npos) << t;

    auto panic = fm::unrun_cell("7.2", "7.2", fm::Outcome::panic, "Kernel panic - not syncing: VFS\nCall trace:\n x");
    EXPECT_EQ(fm::failure_details({panic}), "7.2: panic:\n    Kernel panic - not syncing: VFS\n    Call trace:\n     x\n");

    std::string long_message;
    for (int i = 0; i < 20; i++) long_message += "line " + std::to_string(i) + "\n";
    auto many = cells[1];
    many.suite.tests.clear();
    for (int i = 0; i < 7; i++) {
        fm::GuestTest g;
        g.name = "Flow.t" + std::to_string(i);
        g.result = "FAILED";
        g.failure_message = long_message;
        many.suite.tests.push_back(g);
    }
    const std::string d = fm::failure_details({many});
    EXPECT_NE(d.find("    line 11\n    ...\n5.10: Flow.t1 failed:"), std::string::npos) << d;
    EXPECT_EQ(d.find("line 12"), std::string::npos) << d;
    EXPECT_NE(d.find("5.10: Flow.t4 failed:"), std::string::npos) << d;
    EXPECT_EQ(d.find("Flow.t5"), std::string::npos) << d;
    EXPECT_NE(d.find("5.10: 2 more failed tests in its junit.xml\n"), std::string::npos) << d;
}

TEST(Summary, HtmlIsSelfContainedWithGridLinksAndTimeline) {
    auto cells = sample();
    fm::RunInfo info{1000.0, 1010.0, "", true, "kernels.txt", fm::RunKind::suite, {}, {}};
    std::string h = fm::summary_html(cells, info);
    EXPECT_NE(h.find("<!DOCTYPE html>"), std::string::npos);
    EXPECT_EQ(h.find("<script"), std::string::npos);
    EXPECT_EQ(h.find("<link"), std::string::npos);
    EXPECT_EQ(h.find("src=\"http"), std::string::npos);
    EXPECT_NE(h.find("href=\"6.1/console.log\""), std::string::npos);
    EXPECT_NE(h.find("<svg"), std::string::npos);
    EXPECT_NE(h.find("Interrupted"), std::string::npos);
    EXPECT_NE(h.find("#2e9d4e"), std::string::npos);  // a coloured pass cell
    EXPECT_EQ(h.find("results.svg"), std::string::npos);  // no benchmark chart beside this report
    EXPECT_NE(fm::summary_html(cells, info, "../bench/results.svg").find("<a href=\"../bench/results.svg\">"), std::string::npos);
}

// The timeline's blue span is what the guest does between /init and its first test, which
// differs by command: exec's coloured span is its command, check has none.
TEST(Summary, TimelineSaysWhatEachKindOfRunDoesAfterInit) {
    auto cells = sample();
    fm::RunInfo info{1000.0, 1010.0, "", false, "kernels.txt", fm::RunKind::suite, {}, {}};
    EXPECT_NE(fm::summary_html(cells, info).find("blue: mounts, modules, the probe, flowattr load --check; coloured: tests"),
              std::string::npos);
    info.kind = fm::RunKind::check;
    const std::string check = fm::summary_html(cells, info);
    EXPECT_NE(check.find("blue: mounts, modules, the probe, flowattr check of every object; light"), std::string::npos);
    EXPECT_EQ(check.find("load --check"), std::string::npos);
    info.kind = fm::RunKind::exec;
    EXPECT_NE(fm::summary_html(cells, info).find("blue: mounts, modules; coloured: the command (by outcome); light"),
              std::string::npos);
}

// Test names and LSM lists break at their separators, so the grid fits a laptop's width.
TEST(Summary, HtmlLongNamesWrapAtTheirSeparators) {
    EXPECT_EQ(fm::html_breakable("Suite.Name/<x>", "./"), "Suite.<wbr>Name/<wbr>&lt;x&gt;");
    EXPECT_EQ(fm::html_breakable("lockdown,bpf", ","), "lockdown,<wbr>bpf");
    EXPECT_EQ(fm::html_breakable("none", ","), "none");
    auto cells = sample();
    fm::RunInfo info{1000.0, 1010.0, "", false, "kernels.txt", fm::RunKind::suite, {}, {}};
    const std::string h = fm::summary_html(cells, info);
    EXPECT_NE(h.find("<td>Flow.<wbr>lsm</td>"), std::string::npos);
}

// A kernel no VM ran for, unavailable or unsupported, has no column in the HTML grid (one word
// repeated down it), but is named above it with its outcome; the kernels that ran keep theirs,
// in order.
TEST(Summary, HtmlGridHasColumnsOnlyForKernelsAVmRanFor) {
    auto cells = sample();
    fm::RunInfo info{1000.0, 1010.0, "", false, "kernels.txt", fm::RunKind::suite, {}, {}};
    const std::string h = fm::summary_html(cells, info);
    const std::size_t grid = h.find("<h2>Tests × kernels</h2>");
    ASSERT_NE(grid, std::string::npos) << h;
    const std::string g = h.substr(grid);
    EXPECT_NE(g.find("<p>No column: no VM ran for 6.6 (unavailable).</p>"), std::string::npos) << g;
    EXPECT_NE(g.find("<tr><th>test</th><th>6.1</th><th>5.10</th></tr>"), std::string::npos) << g;
    EXPECT_EQ(g.find("<th>6.6</th>"), std::string::npos) << g;
    const std::size_t row = g.find("<td>Flow.<wbr>lsm</td>");
    ASSERT_NE(row, std::string::npos) << g;
    const std::string lsm_row = g.substr(row, g.find("</tr>", row) - row);
    EXPECT_EQ(lsm_row.find("unavailable"), std::string::npos) << lsm_row;
    EXPECT_NE(lsm_row.find(">skip<"), std::string::npos) << lsm_row;
    EXPECT_NE(lsm_row.find(">fail<"), std::string::npos) << lsm_row;

    // A kernel that should have run and did not keeps its column, as in the check grid.
    const auto no_boot = fm::unrun_cell("6.12", "6.12", fm::Outcome::infra_error, "qemu exited");
    const std::string with_failure = fm::summary_html({cells[0], no_boot, cells[2]}, info);
    EXPECT_NE(with_failure.find("<tr><th>test</th><th>6.1</th><th>6.12</th></tr>"), std::string::npos) << with_failure;

    const std::string none_ran = fm::summary_html({cells[2]}, info);
    EXPECT_NE(none_ran.find("<p>No column: no VM ran for 6.6 (unavailable).</p>"), std::string::npos);
    EXPECT_EQ(none_ran.find("<th>test</th>"), std::string::npos) << none_ran;
}

TEST(Summary, ExitCodeIsTheWorstAvailableOutcome) {
    auto cells = sample();
    EXPECT_EQ(fm::run_exit_code({cells[0], cells[2]}, false), 0);  // unavailable does not fail
    EXPECT_EQ(fm::run_exit_code(cells, false), 10);
    auto panic = cells[1];
    panic.cls.outcome = fm::Outcome::panic;
    EXPECT_EQ(fm::run_exit_code({cells[1], panic, cells[0]}, false), 13);
    EXPECT_EQ(fm::run_exit_code(cells, true), 130);
}

TEST(Summary, WriteReportsCreatesEveryFile) {
    flowattr::TempDir dir("report-test");
    auto cells = sample();
    fm::write_reports(dir.path() + "/m", cells, {1000, 1010, "", false, "", fm::RunKind::suite, {}, {}});
    for (const char* f : {"summary.txt", "summary.md", "index.html", "results.json", "6.1/junit.xml", "5.10/junit.xml",
                          "6.6/junit.xml"}) {
        struct stat st;
        EXPECT_EQ(::stat((dir.path() + "/m/" + f).c_str(), &st), 0) << f;
    }
}

TEST(Progress, PlainLinesWithoutATerminal) {
    std::ostringstream out;
    fm::ProgressBoard b(out, false, {"6.1", "5.10-nolsm"});
    b.set("6.1", "booting");
    b.set("6.1", "booting");  // unchanged: no second line
    b.note("kmatrix: using TCG");
    auto cells = sample();
    b.finish(cells[0]);
    b.refresh();
    std::string s = out.str();
    EXPECT_EQ(s.find('\033'), std::string::npos);
    EXPECT_NE(s.find("  6.1            0.0s  booting\n"), std::string::npos) << s;
    EXPECT_NE(s.find("kmatrix: using TCG\n"), std::string::npos);
    EXPECT_NE(s.find("pass: 1 passed, 1 skipped"), std::string::npos);
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 3);
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
    std::ostringstream out;
    fm::ProgressBoard b(out, true, {"6.1", "7.2"});
    b.set("6.1", "booting");
    b.set("7.2", "fetching");
    std::string s = out.str();
    EXPECT_NE(s.find("\033[2A"), std::string::npos);
    EXPECT_NE(s.find("\r\033[K"), std::string::npos);
}

TEST(Progress, LinesFitTheTerminal) {
    std::ostringstream out;
    fm::ProgressBoard b(out, true, {"6.1"}, 20);
    b.set("6.1", "fetch: a very long message that would wrap the terminal");
    std::string s = out.str();
    auto start = s.rfind("\033[K") + 3;
    EXPECT_EQ(s.substr(start, s.find('\n', start) - start).size(), 19u) << s;
}

}  // namespace
