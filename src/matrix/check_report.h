#pragma once
// What `kmatrix check` (and `kmatrix lab`) tells people: one result per program per kernel,
// as a terminal grid (programs x kernels, the class in each failing cell), Markdown, a
// section of the HTML report, JUnit (one testcase per program per kernel) and the --json
// document of docs/OUTPUT.md.
#include <map>
#include <string>
#include <vector>

#include "diagnose/check_record.h"
#include "matrix/matrix_run.h"

namespace flowattr::matrix {

// One row of the grid: a program of an object, in the order the kernels first reported it.
struct CheckRow {
    std::string object, program, section;
};
std::vector<CheckRow> check_rows(const std::vector<CellResult>& cells);

// The program's result on that kernel; nullptr when the kernel did not report it.
const diagnose::ProgramCheck* check_result(const CellResult& cell, const CheckRow& row);

// A grid cell: the program's result on that kernel, or why there is none.
struct CheckGridCell {
    enum class State {
        result,     // the kernel reported the program
        not_run,    // no VM ran (unavailable, unsupported, left out)
        vm_ended,   // the VM ran and did not finish (boot-fail, timeout, ...)
        not_given,  // an executable of the other architecture: the kernel was not given it
        missing,    // the kernel was given the object and never reported this program
    };
    State state = State::not_run;
    const diagnose::ProgramCheck* result = nullptr;  // State::result
    Outcome outcome = Outcome::pass;                 // the kernel's
    // A failing result, a VM that ended early, a missing program: red, exit 1.
    bool failed() const;
    // A pass the kernel verified but nothing attached (a bare `kprobe` section, a uprobe with no
    // binary: ProgramCheck::note says why): not a promise that the program will attach.
    bool loaded_only() const;
    // What the grids show: "pass", "loaded" (loaded_only), "skip", the failure class,
    // "other-arch", "missing", or the kernel's outcome ("unavailable", "boot-fail").
    std::string label() const;
};
CheckGridCell grid_cell(const CellResult& cell, const CheckRow& row);
std::string check_cell_label(const CellResult& cell, const CheckRow& row);

std::string check_grid_text(const std::vector<CellResult>& cells);
std::string check_grid_markdown(const std::vector<CellResult>& cells);
std::string check_grid_html(const std::vector<CellResult>& cells);
std::string check_junit_xml(const CellResult& cell);
// {"kernels":[{"name","version","outcome"}...],"results":[{"kernel","object","program",
// "section","status","class","message","cause","fix","log"}...]}
std::string check_results_json(const std::vector<CellResult>& cells);

// "programs: 112 pass, 8 loaded, 14 fail, 0 skip over 5 kernels; failures by class:
// missing-kfunc 4, unsupported-attach-type 10; unclassified: 0": the grids' labels counted (the
// last field always there, for scripts).
std::string check_tally(const std::vector<CellResult>& cells);

// 0 when every program passed or skipped on every kernel that ran; 1 when any program
// failed or is missing, any kernel that should have run did not finish, or the run was
// interrupted.
int check_exit_code(const std::vector<CellResult>& cells, bool interrupted);

// The lab's expected grid (tests/kernel/fixtures/expected.txt): '#' comments, a header line
// "program K1 K2 ...", then one line per program ("object/program") with one label per kernel.
struct ExpectedGrid {
    std::vector<std::string> kernels;
    std::vector<std::string> rows;  // in file order
    std::map<std::string, std::map<std::string, std::string>> labels;  // row -> kernel -> label
};
// Throws flowattr::Error naming the line for a malformed grid.
ExpectedGrid parse_expected_grid(const std::string& text);
// The observed grid in that format, over the kernels that ran.
std::string expected_grid_text(const std::vector<CellResult>& cells);
// One line per difference; kernels that did not run here (unavailable, or left out with
// --only) are not compared.
std::vector<std::string> compare_with_expected(const ExpectedGrid& expected, const std::vector<CellResult>& cells);

// Every DIR/*.bpf.o, sorted; throws flowattr::Error when there is none.
std::vector<std::string> list_fixture_objects(const std::string& dir);

}  // namespace flowattr::matrix
