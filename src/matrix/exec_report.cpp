#include "matrix/exec_report.h"

#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/json_text.h"
#include "matrix/report.h"

namespace flowattr::matrix {

namespace {

double seconds(const GuestExec& e) { return e.ran ? e.end - e.start : 0; }

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f s", s);
    return buf;
}

// ARGV as a person would type it in sh (display only: the guest gets the argv itself).
// Hand-written: no kept C++ library quotes for the shell, and the rule is four lines.
std::string display_command(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                       "_-./=:,+@%") == std::string::npos;
        std::string quoted = "'";
        for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        out += (out.empty() ? "" : " ") + (plain ? a : quoted + "'");
    }
    return out;
}

// The status, then where the kernel itself failed the cell (panic, splat, boot), that too.
std::string status_with_outcome(const CellResult& c) {
    std::string status = exec_status(c);
    if (c.cls.outcome != Outcome::pass && c.cls.outcome != Outcome::test_fail)
        status += " (" + std::string(outcome_name(c.cls.outcome)) + ": " + c.cls.reason + ")";
    return status;
}

// "/exec/tcpconnect (x86_64; /usr/sbin/tcpconnect, sha256 0123456789ab…; with this machine's
// /lib64/ld-linux-x86-64.so.2 and 3 shared libraries)".
std::string brought_text(const BroughtFile& f) {
    const std::string company = libraries_text(f);
    return "/exec/" + f.name + " (" + (f.arch ? arch_name(*f.arch) : "every kernel") + "; " + f.path + ", sha256 " +
           f.sha256.substr(0, 12) + "…" + (company.empty() ? "" : "; with " + company) + ")";
}

}  // namespace

std::string exec_status(const CellResult& c) {
    const GuestExec& e = c.suite.exec;
    if (!e.ran) return "did not run";
    if (e.timed_out) return "timed out";
    if (e.signal) return "killed by signal " + std::to_string(e.signal);
    return "exit " + std::to_string(e.rc);
}

std::string exec_text(const std::vector<CellResult>& cells) {
    std::ostringstream out;
    for (const auto& c : cells) {
        if (!c.ran_vm) continue;
        out << "=== " << c.name << " (" << (c.suite.kernel_release.empty() ? c.version : c.suite.kernel_release)
            << "): " << status_with_outcome(c);
        if (c.suite.exec.ran) out << " in " << seconds_text(seconds(c.suite.exec));
        out << " ===\n" << c.suite.exec.output;
        if (!c.suite.exec.output.empty() && c.suite.exec.output.back() != '\n') out << "\n";
        if (!c.suite.exec.splat.empty()) out << "kernel splat: " << c.suite.exec.splat << "\n";
    }
    return out.str();
}

std::string exec_markdown(const std::vector<CellResult>& cells, const std::vector<BroughtFile>& files) {
    std::ostringstream md;
    md << "\n### The command on each kernel\n\n";
    if (!files.empty()) {
        md << "Brought along:";
        for (const auto& f : files) md << (&f == &files.front() ? " " : ", ") << markdown_cell(brought_text(f));
        md << ".\n\n";
    }
    md << "| kernel | status | seconds | last line of output |\n|---|---|---:|---|\n";
    for (const auto& c : cells) {
        if (!c.ran_vm) continue;
        md << "| " << markdown_cell(c.name) << " | " << markdown_cell(status_with_outcome(c)) << " | "
           << seconds_text(seconds(c.suite.exec)) << " | " << markdown_cell(last_nonempty_line(c.suite.exec.output))
           << " |\n";
    }
    return md.str();
}

std::string exec_html(const std::vector<CellResult>& cells, const std::vector<BroughtFile>& files) {
    std::ostringstream h;
    std::string command;
    for (const auto& c : cells)
        if (c.suite.exec.ran && command.empty()) command = display_command(c.suite.exec.argv);
    h << "<h2>The command on each kernel</h2>\n<p><code>" << html_escape(command) << "</code></p>\n";
    if (!files.empty()) {
        h << "<p>Brought along:";
        for (const auto& f : files) h << (&f == &files.front() ? " " : ", ") << html_escape(brought_text(f));
        h << ".</p>\n";
    }
    for (const auto& c : cells) {
        if (!c.ran_vm) continue;
        bool passed = c.cls.outcome == Outcome::pass;
        h << "<details" << (passed ? "" : " open") << "><summary><b>" << html_escape(c.name) << "</b>: "
          << html_escape(status_with_outcome(c)) << ", " << seconds_text(seconds(c.suite.exec)) << "</summary>\n<pre>"
          << html_escape(c.suite.exec.output) << "</pre></details>\n";
    }
    return h.str();
}

std::string exec_junit_xml(const CellResult& c) {
    const GuestExec& e = c.suite.exec;
    const std::string cls = "kernel." + c.name;
    std::string command = e.argv.empty() ? "command" : display_command(e.argv);
    // The command is the one testcase; a VM that failed around it (boot, panic) is an error.
    bool failed = c.ran_vm && c.cls.outcome == Outcome::test_fail;
    bool error = outcome_fails_run(c.cls.outcome) && !failed;
    bool skipped = !c.ran_vm && !error;
    std::ostringstream x;
    x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kmatrix exec\" tests=\"1\" failures=\""
      << int(failed) << "\" errors=\"" << int(error) << "\" skipped=\"" << int(skipped) << "\">\n"
      << "  <testsuite name=\"" << xml_escape(cls) << "\" tests=\"1\" failures=\"" << int(failed) << "\" errors=\""
      << int(error) << "\" skipped=\"" << int(skipped) << "\">\n"
      << "    <properties>\n"
      << "      <property name=\"kernel.version\" value=\"" << xml_escape(c.version) << "\"/>\n"
      << "      <property name=\"kernel.release\" value=\"" << xml_escape(c.suite.kernel_release) << "\"/>\n"
      << "      <property name=\"kernel.image_sha256\" value=\"" << xml_escape(c.image_sha256) << "\"/>\n"
      << "      <property name=\"outcome\" value=\"" << outcome_name(c.cls.outcome) << "\"/>\n"
      << "    </properties>\n"
      << "    <testcase classname=\"" << xml_escape(cls) << "\" name=\"" << xml_escape(command) << "\" time=\""
      << seconds(e) << "\">\n";
    std::string message = status_with_outcome(c);
    if (failed)
        x << "      <failure type=\"test-fail\" message=\"" << xml_escape(message) << "\">" << xml_escape(c.cls.reason)
          << "</failure>\n";
    else if (error)
        x << "      <error type=\"" << outcome_name(c.cls.outcome) << "\" message=\"" << xml_escape(message) << "\">"
          << xml_escape(c.cls.reason) << "</error>\n";
    else if (skipped)
        x << "      <skipped message=\"" << outcome_name(c.cls.outcome) << ": " << xml_escape(c.cls.reason) << "\"/>\n";
    if (!e.output.empty()) x << "      <system-out>" << xml_escape(e.output) << "</system-out>\n";
    if (!e.splat.empty()) x << "      <system-err>" << xml_escape("kernel splat: " + e.splat) << "</system-err>\n";
    x << "    </testcase>\n  </testsuite>\n</testsuites>\n";
    return x.str();
}

std::string exec_results_json(const std::vector<std::string>& argv, const std::vector<BroughtFile>& files,
                              const std::vector<CellResult>& cells) {
    nlohmann::json j;
    j["command"] = argv;
    j["files"] = brought_files_json(files);
    j["kernels"] = nlohmann::json::array();
    for (const auto& c : cells) {
        const GuestExec& e = c.suite.exec;
        j["kernels"].push_back({{"name", c.name},
                                {"version", c.version},
                                {"arch", arch_name(c.arch)},
                                {"release", c.suite.kernel_release},
                                {"outcome", outcome_name(c.cls.outcome)},
                                {"reason", c.cls.reason},
                                {"ran", e.ran},
                                {"exit_code", e.ran ? nlohmann::json(e.rc) : nlohmann::json()},
                                {"signal", e.signal},
                                {"timed_out", e.timed_out},
                                {"seconds", seconds(e)},
                                {"splat", e.splat},
                                {"output", e.output}});
    }
    return json_text(j, 2) + "\n";
}

}  // namespace flowattr::matrix
