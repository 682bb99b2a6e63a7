#pragma once
// What a matrix run tells people once it ends (progress_board.h is what it shows while it
// runs): per-kernel JUnit (for CI test reporters), and a summary as a terminal table,
// Markdown (for $GITHUB_STEP_SUMMARY), a self-contained HTML page and results.json (for scripts).
#include <string>
#include <vector>

#include "matrix/brought_files.h"
#include "matrix/matrix_run.h"

namespace flowattr::matrix {

// What the cells ran, and so what the reports show beside the kernels table.
enum class RunKind {
    suite,  // `kmatrix run`/`repro`: tests x kernels
    check,  // `kmatrix check`/`lab`: programs x kernels
    exec,   // `kmatrix exec`: one command per kernel, its exit and output
};

struct RunInfo {
    double start = 0, end = 0;  // wall clock, seconds since the epoch
    std::string accel_note;     // why this accelerator (e.g. the TCG fallback), a sentence
    bool interrupted = false;
    std::string kernels_file;
    RunKind kind = RunKind::suite;
    std::vector<std::string> command;  // exec: the command's argv
    std::vector<BroughtFile> files;    // exec: what --file brought along
};

std::string junit_xml(const CellResult& cell);
// The table, then failure_details().
std::string summary_table(const std::vector<CellResult>& cells);
// Under the table: each failed test's message, or the reason of a cell that failed without
// one, a few lines each.
std::string failure_details(const std::vector<CellResult>& cells);
std::string summary_markdown(const std::vector<CellResult>& cells, const RunInfo& info);
// BENCH_CHART: the href of `make bench`'s chart (results.svg) when one sits beside the report.
std::string summary_html(const std::vector<CellResult>& cells, const RunInfo& info, const std::string& bench_chart = "");
std::string results_json(const std::vector<CellResult>& cells, const RunInfo& info);

// Writes OUT_DIR/{summary.txt,summary.md,index.html,results.json} (and check.json for a
// check run, exec.json for an exec run) and each cell's OUT_DIR/<cell>/junit.xml. Throws flowattr::Error when a file cannot be written.
void write_reports(const std::string& out_dir, const std::vector<CellResult>& cells, const RunInfo& info);

// 0 when no available kernel failed; otherwise the exit code of the most severe outcome
// (panic, splat, boot-fail, timeout, load-fail, test-fail, infra-error in that order);
// 130 when the run was interrupted.
int run_exit_code(const std::vector<CellResult>& cells, bool interrupted);

std::string xml_escape(const std::string& s);
// A Markdown table cell: '|' escaped, newlines folded.
std::string markdown_cell(const std::string& s);
std::string html_escape(const std::string& s);
// html_escape, with a line-break opportunity (<wbr>) after each character of BREAK_AFTER: long
// test names and LSM lists wrap at their separators instead of widening the page past a laptop's.
std::string html_breakable(const std::string& s, const char* break_after);

// A grid's columns (tests or programs x kernels): the kernels that ran, or should have and did
// not. An unavailable or unsupported kernel would be a column of one word; grid_cells leaves it
// out and no_column_note names it with its outcome, in the one sentence every grid prints above
// or below itself ("No column: no VM ran for 6.6 (unavailable), ..."; empty when none).
std::vector<CellResult> grid_cells(const std::vector<CellResult>& cells);
std::string no_column_note(const std::vector<CellResult>& cells);
// The first line of S, cut to MAX characters ("..." marks the cut).
std::string one_line(const std::string& s, std::size_t max);

}  // namespace flowattr::matrix
