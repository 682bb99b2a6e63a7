#pragma once
// What `kmatrix exec` tells people: one command on every kernel, so per kernel its exit,
// its time and its output — on the terminal, as a section of the HTML report and of
// summary.md, as JUnit (one testcase per kernel: the command) and as the --json document
// of docs/OUTPUT.md. Whether a kernel passed is classify()'s verdict (outcome.h): exit 0
// passes, anything else is test-fail, a timeout, splat or panic is named as such.
#include <string>
#include <vector>

#include "matrix/brought_files.h"
#include "matrix/matrix_run.h"

namespace flowattr::matrix {

// "exit 0", "exit 3", "killed by signal 11", "timed out", "did not run".
std::string exec_status(const CellResult& cell);

// Per kernel: a heading line with the status and the seconds, then the command's output.
std::string exec_text(const std::vector<CellResult>& cells);
// The Markdown and HTML sections open with what --file brought along (FILES).
std::string exec_markdown(const std::vector<CellResult>& cells, const std::vector<BroughtFile>& files);
std::string exec_html(const std::vector<CellResult>& cells, const std::vector<BroughtFile>& files);
std::string exec_junit_xml(const CellResult& cell);
// {"command":[argv],"files":[brought_files_json],"kernels":[{"name","version","outcome","reason",
// "ran","exit_code","signal","timed_out","seconds","splat","output"}...]}
std::string exec_results_json(const std::vector<std::string>& argv, const std::vector<BroughtFile>& files,
                              const std::vector<CellResult>& cells);

}  // namespace flowattr::matrix
