// kmatrix check's host half: check records through the guest parser and classifier, the
// grid, JUnit, the --json document, and the lab's expected grid.
#include <gtest/gtest.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "diagnose/check_record.h"
#include "matrix/check_report.h"
#include "matrix/outcome.h"
#include "matrix/vm_suite.h"
#include "matrix_fixtures.h"

namespace {

using namespace flowattr::matrix;
using namespace flowattr::matrix::fixtures;
using flowattr::diagnose::Cause;
using flowattr::diagnose::CheckStatus;
using flowattr::diagnose::ProgramCheck;

ProgramCheck program(const std::string& object, const std::string& name, CheckStatus status,
                     std::optional<Cause> cause = std::nullopt) {
    ProgramCheck p;
    p.object = object;
    p.program = name;
    p.section = "tc";
    p.status = status;
    if (status == CheckStatus::pass) p.attach = "tcx ingress on lo";
    if (cause) {
        p.diagnosis = flowattr::diagnose::diagnosis_for(*cause, "R0 invalid mem access 'map_value_or_null'");
        p.err = EACCES;
        p.log = "7: (79) r1 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\n";
    }
    return p;
}

// A check cell as the guest reports it, through the real parser and classifier.
CellResult check_cell(const std::string& kernel, const std::vector<ProgramCheck>& programs, int rc = -2) {
    std::string channel = init_line("check") + "\n" + setup_line() + "\n";
    bool failed = false;
    for (const auto& p : programs) {
        channel += check_line(flowattr::diagnose::program_check_json(p)) + "\n";
        failed |= p.status == CheckStatus::fail;
    }
    channel += check_done_line(rc == -2 ? int(failed) : rc) + "\n" + done_line() + "\n";
    CellResult c;
    c.name = kernel;
    c.version = kernel + ".0";
    c.ran_vm = true;
    c.suite = parse_results(channel);
    c.cls = classify({VmEnd::exited, 0, 60, "kmatrix: /init started\n", "", c.suite});
    return c;
}

TEST(CheckRecords, ParsedFromTheChannel) {
    CellResult c = check_cell("6.1", {program("a", "p1", CheckStatus::pass),
                                      program("a", "p2", CheckStatus::fail, Cause::verifier_rejected)});
    ASSERT_TRUE(c.suite.malformed.empty()) << c.suite.malformed.front();
    ASSERT_EQ(c.suite.check.programs.size(), 2u);
    EXPECT_TRUE(c.suite.check.ran);
    EXPECT_EQ(c.suite.check.rc, 1);
    EXPECT_EQ(c.suite.check.programs[1].diagnosis->cause, Cause::verifier_rejected);
    // Program failures are the grid's business: the VM did its job.
    EXPECT_EQ(c.cls.outcome, Outcome::pass) << c.cls.reason;
    EXPECT_EQ(c.cls.reason, "2 programs checked, 1 failed");
}

TEST(CheckRecords, ABrokenRecordIsKeptAsMalformed) {
    SuiteResults s = parse_results(init_line("check") + "\n" + check_line(R"({"status":"fail","class":"nonsense"})") + "\n");
    EXPECT_TRUE(s.check.programs.empty());
    EXPECT_EQ(s.malformed.size(), 1u);
}

TEST(CheckRecords, ACheckThatNeverEndsIsNotAPass) {
    SuiteResults s = parse_results(init_line("check") + "\n" + setup_line() + "\n" + done_line() + "\n");
    Classification cls = classify({VmEnd::exited, 0, 60, "", "", s});
    EXPECT_EQ(cls.outcome, Outcome::infra_error);
    EXPECT_NE(cls.reason.find("never finished"), std::string::npos) << cls.reason;
    SuiteResults crashed = parse_results(init_line("check") + "\n" + check_done_line(139, "Segmentation fault\n") + "\n" +
                                         done_line() + "\n");
    EXPECT_EQ(classify({VmEnd::exited, 0, 60, "", "", crashed}).outcome, Outcome::infra_error);
    SuiteResults splat = parse_results(init_line("check") + "\n" + check_done_line(0, "", "WARNING: at kernel/bpf/x.c") +
                                       "\n" + done_line() + "\n");
    EXPECT_EQ(classify({VmEnd::exited, 0, 60, "", "", splat}).outcome, Outcome::splat);
}

std::vector<CellResult> two_kernels() {
    CellResult old_kernel = check_cell("5.10", {program("tcx", "ingress", CheckStatus::fail, Cause::unsupported_attach_type),
                                                program("ok", "p", CheckStatus::pass)});
    CellResult new_kernel = check_cell("6.12", {program("tcx", "ingress", CheckStatus::pass), program("ok", "p", CheckStatus::pass)});
    CellResult missing = unrun_cell("6.6", "6.6", Outcome::unavailable, "no source");
    return {old_kernel, new_kernel, missing};
}

// A program the kernel verified and nothing attached is "loaded", not "pass": a bare `kprobe`
// section's target is its own loader's choice, and may not exist on the kernel.
TEST(CheckGrid, LoadedOnlyIsNotAPass) {
    ProgramCheck loaded = program("biotop", "blk_account_io_start", CheckStatus::pass);
    loaded.attach.clear();
    loaded.note = "loaded only: section \"kprobe\" names no target libbpf can attach automatically";
    std::vector<CellResult> cells = {check_cell("6.12", {loaded, program("ok", "p", CheckStatus::pass)})};
    auto rows = check_rows(cells);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(check_cell_label(cells[0], rows[0]), "loaded");
    EXPECT_EQ(check_cell_label(cells[0], rows[1]), "pass");
    EXPECT_FALSE(grid_cell(cells[0], rows[0]).failed());
    EXPECT_NE(check_grid_markdown(cells).find("| ✅ loaded |"), std::string::npos) << check_grid_markdown(cells);
    EXPECT_NE(check_grid_html(cells).find("title=\"loaded only: section &quot;kprobe&quot;"), std::string::npos)
        << check_grid_html(cells);
    EXPECT_EQ(check_exit_code(cells, false), 0);
    EXPECT_EQ(check_tally(cells), "programs: 1 pass, 1 loaded, 0 fail, 0 skip over 1 kernels; unclassified: 0\n");
}

TEST(CheckGrid, LabelsAndExitCode) {
    auto cells = two_kernels();
    auto rows = check_rows(cells);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(check_cell_label(cells[0], rows[0]), "unsupported-attach-type");
    EXPECT_EQ(check_cell_label(cells[1], rows[0]), "pass");
    EXPECT_EQ(check_cell_label(cells[2], rows[0]), "unavailable");
    std::string text = check_grid_text(cells);
    EXPECT_NE(text.find("tcx/ingress [unsupported-attach-type] on 5.10"), std::string::npos) << text;
    EXPECT_NE(text.find("fix:"), std::string::npos);
    EXPECT_EQ(text.substr(0, text.find('\n')).find("6.6"), std::string::npos) << "no column for a kernel that never ran";
    EXPECT_NE(text.find("No column: no VM ran for 6.6 (unavailable).\n"), std::string::npos) << text;
    EXPECT_NE(check_grid_markdown(cells).find("\nNo column: no VM ran for 6.6 (unavailable).\n"), std::string::npos);
    EXPECT_EQ(check_grid_html(cells).find("<th>6.6</th>"), std::string::npos);
    EXPECT_NE(check_grid_html(cells).find("<p>No column: no VM ran for 6.6 (unavailable). Hover"), std::string::npos);
    EXPECT_EQ(check_exit_code(cells, false), 1);
    EXPECT_EQ(check_tally(cells), "programs: 3 pass, 0 loaded, 1 fail, 0 skip over 2 kernels; failures by class: "
                                  "unsupported-attach-type 1; unclassified: 0\n");
    EXPECT_EQ(check_exit_code({cells[1], cells[2]}, false), 0) << "an unavailable kernel does not fail a check";
    EXPECT_EQ(check_exit_code({cells[1]}, true), 1) << "an interrupted run proves nothing";
    CellResult boot = unrun_cell("7.2", "7.2", Outcome::boot_fail, "no /init");
    EXPECT_EQ(check_exit_code({cells[1], boot}, false), 1);
}

// An executable reaches only its own architecture's kernels: a passing kernel that reported
// nothing of an object was not given it ("other-arch", not a failure, said so on hover); a
// program missing from an object the kernel did report is "missing", a failure.
TEST(CheckGrid, AnObjectOfTheOtherArchitectureIsNotMissing) {
    CellResult x86 = check_cell("6.12", {program("biotop", "start", CheckStatus::pass), program("tool", "a", CheckStatus::pass),
                                         program("tool", "b", CheckStatus::pass)});
    CellResult arm = check_cell("6.12-arm64", {program("tool", "a", CheckStatus::pass)});
    arm.arch = flowattr::matrix::Arch::aarch64;
    const std::vector<CellResult> cells = {x86, arm};
    auto rows = check_rows(cells);
    ASSERT_EQ(rows.size(), 3u);
    using State = flowattr::matrix::CheckGridCell::State;
    EXPECT_EQ(grid_cell(arm, rows[0]).state, State::not_given);
    EXPECT_FALSE(grid_cell(arm, rows[0]).failed());
    EXPECT_EQ(grid_cell(arm, rows[2]).state, State::missing);
    EXPECT_TRUE(grid_cell(arm, rows[2]).failed());
    EXPECT_EQ(grid_cell(arm, rows[1]).state, State::result);
    EXPECT_EQ(check_cell_label(arm, rows[0]), "other-arch");
    EXPECT_EQ(check_cell_label(arm, rows[2]), "missing");
    const std::string md = check_grid_markdown(cells);
    EXPECT_NE(md.find("| biotop/start | `tc` | ✅ pass | other-arch |"), std::string::npos) << md;
    EXPECT_NE(md.find("| tool/b | `tc` | ✅ pass | ❌ missing |"), std::string::npos) << md;
    EXPECT_EQ(check_exit_code(cells, false), 1) << "a program the kernel was given and never reported";
    CellResult arm_whole = check_cell("6.12-arm64", {program("tool", "a", CheckStatus::pass), program("tool", "b", CheckStatus::pass)});
    arm_whole.arch = flowattr::matrix::Arch::aarch64;
    EXPECT_EQ(check_exit_code({x86, arm_whole}, false), 0) << "biotop not given to the aarch64 kernel is no failure";
    EXPECT_NE(check_grid_html(cells).find("title=\"biotop is an executable built for another architecture than aarch64: "
                                          "not checked on this kernel\">other-arch<"),
              std::string::npos);
}

TEST(CheckGrid, JsonDocumentMatchesOutputMd) {
    auto j = nlohmann::json::parse(check_results_json(two_kernels()));
    ASSERT_EQ(j["kernels"].size(), 3u);
    EXPECT_EQ(j["kernels"][2]["outcome"], "unavailable");
    ASSERT_EQ(j["results"].size(), 4u);
    for (const auto& r : j["results"])
        for (const char* key : {"kernel", "object", "program", "section", "status", "class", "message", "cause", "fix", "log"})
            EXPECT_TRUE(r.contains(key)) << key;
    EXPECT_EQ(j["results"][0]["class"], "unsupported-attach-type");
    EXPECT_TRUE(j["results"][1]["class"].is_null());
}

TEST(CheckGrid, JunitOneCasePerProgram) {
    auto cells = two_kernels();
    std::string x = check_junit_xml(cells[0]);
    EXPECT_NE(x.find(R"(tests="3" failures="1" errors="0" skipped="0")"), std::string::npos) << x;
    EXPECT_NE(x.find(R"(<testcase classname="kernel.5.10.tcx" name="ingress">)"), std::string::npos) << x;
    EXPECT_NE(x.find(R"(<failure type="unsupported-attach-type")"), std::string::npos) << x;
    std::string unrun = check_junit_xml(cells[2]);
    EXPECT_NE(unrun.find("<skipped message=\"unavailable: no source\"/>"), std::string::npos) << unrun;
}

TEST(ExpectedGrid, RoundTripAndDifferences) {
    auto cells = two_kernels();
    std::string text = expected_grid_text(cells);
    EXPECT_EQ(text.find("6.6"), std::string::npos) << "only kernels that ran are recorded";
    ExpectedGrid g = parse_expected_grid(text);
    EXPECT_EQ(g.kernels, (std::vector<std::string>{"5.10", "6.12"}));
    EXPECT_TRUE(compare_with_expected(g, cells).empty());

    g.labels["tcx/ingress"]["5.10"] = "pass";
    auto diffs = compare_with_expected(g, cells);
    ASSERT_EQ(diffs.size(), 1u);
    EXPECT_EQ(diffs[0].rfind("tcx/ingress on 5.10: expected pass, got unsupported-attach-type", 0), 0u) << diffs[0];

    ExpectedGrid fewer = parse_expected_grid("program 5.10 6.12\ntcx/ingress unsupported-attach-type pass\n");
    auto extra = compare_with_expected(fewer, cells);
    ASSERT_EQ(extra.size(), 2u) << "ok/p is reported on both kernels but has no row";
    EXPECT_NE(extra[0].find("no row"), std::string::npos);

    ExpectedGrid more = parse_expected_grid(text + "gone/prog pass pass\n");
    EXPECT_EQ(compare_with_expected(more, cells).size(), 2u) << "a fixture no kernel reported is a difference";
}

TEST(ExpectedGrid, MalformedIsAnError) {
    EXPECT_THROW(parse_expected_grid("# nothing\n"), flowattr::Error);
    EXPECT_THROW(parse_expected_grid("kernels 5.10\n"), flowattr::Error);
    EXPECT_THROW(parse_expected_grid("program 5.10 6.1\na/b pass\n"), flowattr::Error);
    EXPECT_THROW(parse_expected_grid("program 5.10\na/b pass\na/b pass\n"), flowattr::Error);
}

TEST(GuestPlan, CheckModeCarriesTheLogLimit) {
    GuestPlan plan;
    plan.mode = GuestMode::check;
    plan.check_log_limit = 4096;
    EXPECT_NE(guest_plan_cmdline(plan).find("kmatrix.mode=check kmatrix.filter=* "), std::string::npos);
    EXPECT_NE(guest_plan_cmdline(plan).find("kmatrix.check_log_limit=4096"), std::string::npos);
    plan.mode = GuestMode::suite;
    EXPECT_EQ(guest_plan_cmdline(plan).find("check_log_limit"), std::string::npos);
    plan.mode = GuestMode::check;
    EXPECT_EQ(flowattr::guest::parse_guest_plan("console=ttyS0 " + guest_plan_cmdline(plan)).check_log_limit, 4096u);
}

}  // namespace
