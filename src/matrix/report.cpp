#include "matrix/report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/json_text.h"
#include "matrix/check_report.h"
#include "matrix/exec_report.h"

namespace flowattr::matrix {

namespace {

std::string fixed(double v, int digits = 1) {
    if (v < 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string iso_time(double epoch) {
    if (epoch <= 0) return "";
    std::time_t t = std::time_t(epoch);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

struct Counts {
    int total = 0, passed = 0, failed = 0, skipped = 0;
};

Counts count_tests(const CellResult& c) {
    Counts n;
    for (const auto& t : c.suite.tests) {
        n.total++;
        if (t.result == "FAILED")
            n.failed++;
        else if (t.result == "SKIPPED")
            n.skipped++;
        else
            n.passed++;
    }
    return n;
}

std::string tests_cell(const CellResult& c) {
    if (!c.ran_vm || c.suite.tests.empty()) return "-";
    Counts n = count_tests(c);
    return std::to_string(n.passed) + "/" + std::to_string(n.failed) + "/" + std::to_string(n.skipped);
}

// Per (kernel, test) status for the grid: the test's own result, overridden by the cell
// outcome when that outcome was attributed to this test (a panic or splat during it).
std::string test_status(const CellResult& c, const std::string& test) {
    if (c.cls.test == test &&
        (c.cls.outcome == Outcome::panic || c.cls.outcome == Outcome::splat || c.cls.outcome == Outcome::timeout))
        return outcome_name(c.cls.outcome);
    for (const auto& t : c.suite.tests) {
        if (t.name != test) continue;
        if (t.result == "FAILED") return "fail";
        if (t.result == "SKIPPED") return "skip";
        return "pass";
    }
    return c.ran_vm ? "not-run" : outcome_name(c.cls.outcome);
}

// A grid status: a test's own (fail, skip, not-run) or an outcome's name.
const char* colour(const std::string& status) {
    if (status == "fail") return outcome_colour(Outcome::test_fail);
    if (status == "skip") return "#8fb3d9";
    for (Outcome o : all_outcomes())
        if (status == outcome_name(o)) return outcome_colour(o);
    return "#e0e0e0";
}

std::vector<std::string> all_tests(const std::vector<CellResult>& cells) {
    std::set<std::string> names;
    for (const auto& c : cells)
        for (const auto& t : c.suite.tests) names.insert(t.name);
    return {names.begin(), names.end()};
}

std::string console_href(const CellResult& c) {
    return c.console_log.empty() ? std::string() : cell_dir_name(c.name) + "/console.log";
}

}  // namespace

std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // XML 1.0 forbids most control characters even escaped; console logs have them.
                if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
                    out += '?';
                else
                    out.push_back(char(c));
        }
    }
    return out;
}

std::string html_escape(const std::string& s) { return xml_escape(s); }

std::vector<CellResult> grid_cells(const std::vector<CellResult>& cells) {
    std::vector<CellResult> out;
    for (const auto& c : cells)
        if (c.ran_vm || outcome_fails_run(c.cls.outcome)) out.push_back(c);
    return out;
}

std::string no_column_note(const std::vector<CellResult>& cells) {
    std::string names;
    for (const auto& c : cells)
        if (!c.ran_vm && !outcome_fails_run(c.cls.outcome))
            names += (names.empty() ? "" : ", ") + c.name + " (" + outcome_name(c.cls.outcome) + ")";
    return names.empty() ? "" : "No column: no VM ran for " + names + ".";
}

std::string html_breakable(const std::string& s, const char* break_after) {
    std::string out;
    std::size_t from = 0;
    for (std::size_t at; (at = s.find_first_of(break_after, from)) != std::string::npos; from = at + 1)
        out += html_escape(s.substr(from, at + 1 - from)) + "<wbr>";
    return out + html_escape(s.substr(from));
}

std::string one_line(const std::string& s, std::size_t max) {
    std::string out = s.substr(0, s.find('\n'));
    if (out.size() > max) out = out.substr(0, max - 3) + "...";
    return out;
}


std::string junit_xml(const CellResult& c) {
    std::ostringstream x;
    Counts n = count_tests(c);
    const Outcome o = c.cls.outcome;
    bool not_run = !c.ran_vm;
    // The VM-level verdict is a testcase of its own so a boot failure or panic shows up
    // in test reporters even when no test result exists.
    bool vm_failed = outcome_fails_run(o) && o != Outcome::test_fail && o != Outcome::load_fail;
    int tests = n.total + 2;
    int failures = n.failed + (c.suite.load_check.ran && c.suite.load_check.rc != 0 ? 1 : 0);
    int errors = vm_failed ? 1 : 0;
    int skipped = n.skipped + (not_run && !outcome_fails_run(o) ? 2 : 0);
    double time = c.timings.vm > 0 ? c.timings.vm : 0;
    std::string cls = "kernel." + c.name;

    x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    x << "<testsuites name=\"kmatrix\" tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\"" << errors
      << "\" skipped=\"" << skipped << "\" time=\"" << fixed(time, 3) << "\">\n";
    x << "  <testsuite name=\"" << xml_escape(cls) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << fixed(time, 3) << "\" timestamp=\""
      << iso_time(c.marks.spawn) << "\">\n";
    x << "    <properties>\n";
    auto prop = [&](const std::string& k, const std::string& v) {
        x << "      <property name=\"" << xml_escape(k) << "\" value=\"" << xml_escape(v) << "\"/>\n";
    };
    prop("kernel.name", c.name);
    prop("kernel.version", c.version);
    prop("arch", arch_name(c.arch));
    prop("kernel.release", c.suite.kernel_release);
    prop("kernel.image_sha256", c.image_sha256);
    prop("initramfs.sha256", c.initramfs_sha256);
    prop("accel", c.accel);
    prop("cmdline", c.cmdline);
    prop("qemu.command", c.qemu_command);
    prop("kernel.boot", c.boot);
    prop("lsm", c.suite.lsm);
    std::string modes;
    for (const auto& m : c.suite.attach_modes()) modes += (modes.empty() ? "" : ",") + m;
    prop("attach_modes", modes);
    for (const auto& [feature, available] : c.suite.probe_features) prop("probe." + feature, available ? "yes" : "no");
    prop("outcome", outcome_name(o));
    prop("outcome.reason", c.cls.reason);
    prop("timing.qemu_to_init_s", fixed(c.timings.to_init, 2));
    prop("timing.init_to_first_test_s", fixed(c.timings.init_to_first_test, 2));
    prop("timing.vm_s", fixed(c.timings.vm, 2));
    for (const auto& [phase, seconds] : c.suite.phases()) prop("phase." + phase + "_s", fixed(seconds, 2));
    x << "    </properties>\n";

    x << "    <testcase classname=\"" << xml_escape(cls) << "\" name=\"vm\" time=\"" << fixed(time, 3) << "\">\n";
    if (vm_failed)
        x << "      <error type=\"" << outcome_name(o) << "\" message=\"" << xml_escape(one_line(c.cls.reason, 500))
          << "\">" << xml_escape(c.cls.reason) << "</error>\n";
    else if (not_run)
        x << "      <skipped message=\"" << outcome_name(o) << ": " << xml_escape(one_line(c.cls.reason, 500)) << "\"/>\n";
    x << "    </testcase>\n";

    const auto& lc = c.suite.load_check;
    x << "    <testcase classname=\"" << xml_escape(cls) << "\" name=\"flowattr load --check\" time=\""
      << fixed(lc.ran ? lc.end - lc.start : 0, 3) << "\">\n";
    if (lc.ran && lc.rc != 0)
        x << "      <failure type=\"load-fail\" message=\"exit code " << lc.rc << "\">" << xml_escape(lc.output)
          << "</failure>\n";
    else if (!lc.ran)
        x << "      <skipped message=\"not run\"/>\n";
    if (lc.ran) x << "      <system-out>" << xml_escape(lc.output) << "</system-out>\n";
    x << "    </testcase>\n";

    for (const auto& t : c.suite.tests) {
        auto dot = t.name.find('.');
        std::string suite = dot == std::string::npos ? "" : "." + t.name.substr(0, dot);
        std::string name = dot == std::string::npos ? t.name : t.name.substr(dot + 1);
        x << "    <testcase classname=\"" << xml_escape(cls + suite) << "\" name=\"" << xml_escape(name) << "\" time=\""
          << fixed(t.end - t.start, 3) << "\">\n";
        if (!t.properties.empty()) {
            x << "      <properties>\n";
            for (const auto& [k, v] : t.properties)
                x << "        <property name=\"" << xml_escape(k) << "\" value=\"" << xml_escape(v) << "\"/>\n";
            x << "      </properties>\n";
        }
        if (t.result == "FAILED") {
            const std::string msg = t.failure_text();
            x << "      <failure message=\"" << xml_escape(one_line(msg, 500)) << "\">" << xml_escape(msg)
              << (t.output.empty() ? "" : "\n\n" + xml_escape(t.output)) << "</failure>\n";
        } else if (t.result == "SKIPPED") {
            x << "      <skipped message=\"" << xml_escape(one_line(t.skip_reason, 500)) << "\"/>\n";
        }
        if (!t.splat.empty()) x << "      <system-err>" << xml_escape("kernel splat: " + t.splat) << "</system-err>\n";
        x << "    </testcase>\n";
    }
    // A test that was running when the VM died never reported; list it so it is not lost.
    if (c.suite.running_test)
        x << "    <testcase classname=\"" << xml_escape(cls) << "\" name=\"" << xml_escape(*c.suite.running_test)
          << "\"><error type=\"" << outcome_name(o) << "\" message=\"" << xml_escape(one_line(c.cls.reason, 500))
          << "\"/></testcase>\n";
    x << "  </testsuite>\n</testsuites>\n";
    return x.str();
}

std::string summary_table(const std::vector<CellResult>& cells) {
    std::vector<std::vector<std::string>> rows = {
        {"kernel", "arch", "version", "outcome", "accel", "boot s", "vm s", "tests p/f/s", "detail"}};
    for (const auto& c : cells)
        rows.push_back({c.name, arch_name(c.arch), c.version, outcome_name(c.cls.outcome), c.accel.empty() ? "-" : c.accel,
                        fixed(c.timings.to_init), fixed(c.timings.vm), tests_cell(c), one_line(c.cls.reason, 70)});
    std::vector<std::size_t> w(rows[0].size(), 0);
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); i++) w[i] = std::max(w[i], r[i].size());
    std::ostringstream out;
    for (std::size_t ri = 0; ri < rows.size(); ri++) {
        std::string line;
        for (std::size_t i = 0; i < rows[ri].size(); i++) {
            line += rows[ri][i];
            if (i + 1 < rows[ri].size()) line += std::string(w[i] - rows[ri][i].size() + 2, ' ');
        }
        out << line << "\n";
        if (ri == 0) {
            std::size_t total = 0;
            for (std::size_t i = 0; i < w.size(); i++) total += w[i] + (i + 1 < w.size() ? 2 : 0);
            out << std::string(std::min<std::size_t>(total, 120), '-') << "\n";
        }
    }
    out << failure_details(cells);
    return out.str();
}

// The table cuts each reason to a line; a CI log often keeps only the end of the output, so
// the message of each failed test (or the whole reason of a cell that failed otherwise) is
// printed right under it, bounded, and the JUnit files hold the rest.
std::string failure_details(const std::vector<CellResult>& cells) {
    constexpr int kTestsPerCell = 5, kLinesPerMessage = 12;
    auto indented = [](const std::string& text) {
        std::istringstream in(text);
        std::string line, out;
        for (int n = 0; std::getline(in, line);) {
            if (line.empty()) continue;
            if (++n > kLinesPerMessage) {
                out += "    ...\n";
                break;
            }
            out += "    " + line + "\n";
        }
        return out;
    };
    std::ostringstream out;
    for (const auto& c : cells) {
        if (!outcome_fails_run(c.cls.outcome)) continue;
        int shown = 0, failed = 0;
        for (const auto& t : c.suite.tests) {
            if (t.result != "FAILED") continue;
            if (++failed > kTestsPerCell) continue;
            shown++;
            out << c.name << ": " << t.name << " failed:\n" << indented(t.failure_text());
        }
        if (failed > shown) out << c.name << ": " << failed - shown << " more failed tests in its junit.xml\n";
        if (shown == 0) out << c.name << ": " << outcome_name(c.cls.outcome) << ":\n" << indented(c.cls.reason);
    }
    return out.str();
}

std::string markdown_cell(const std::string& s) {
    std::string out;
    for (char ch : s) out += ch == '|' ? std::string("\\|") : ch == '\n' ? std::string(" ") : std::string(1, ch);
    return out;
}

std::string summary_markdown(const std::vector<CellResult>& cells, const RunInfo& info) {
    std::ostringstream md;
    md << "## flowattr kernel matrix\n\n";
    if (info.interrupted) md << "**Interrupted**: partial results.\n\n";
    if (!info.accel_note.empty()) md << "_" << markdown_cell(info.accel_note) << "_\n\n";
    md << "| kernel | arch | version | outcome | accel | QEMU→init s | init→tests s | VM s | tests p/f/s | detail |\n";
    md << "|---|---|---|---|---|---:|---:|---:|---|---|\n";
    for (const auto& c : cells) {
        std::string mark = c.cls.outcome == Outcome::pass ? "✅ " : outcome_fails_run(c.cls.outcome) ? "❌ " : "⚪ ";
        md << "| " << markdown_cell(c.name) << " | " << arch_name(c.arch) << " | " << markdown_cell(c.version) << " | " << mark << outcome_name(c.cls.outcome)
           << " | " << (c.accel.empty() ? "-" : c.accel) << " | " << fixed(c.timings.to_init) << " | "
           << fixed(c.timings.init_to_first_test) << " | " << fixed(c.timings.vm) << " | " << tests_cell(c) << " | "
           << markdown_cell(one_line(c.cls.reason, 120)) << " |\n";
    }
    // The grid's columns as in the HTML report (grid_cells), the kernels without one named above it.
    const std::vector<CellResult> columns = grid_cells(cells);
    auto tests = all_tests(columns);
    if (!tests.empty()) {
        md << "\n<details><summary>Per-test results</summary>\n\n";
        const std::string left_out = no_column_note(cells);
        if (!left_out.empty()) md << markdown_cell(left_out) << "\n\n";
        md << "| test |";
        for (const auto& c : columns) md << " " << markdown_cell(c.name) << " |";
        md << "\n|---|";
        for (std::size_t i = 0; i < columns.size(); i++) md << "---|";
        md << "\n";
        for (const auto& t : tests) {
            md << "| " << markdown_cell(t) << " |";
            for (const auto& c : columns) md << " " << test_status(c, t) << " |";
            md << "\n";
        }
        md << "\n</details>\n";
    }
    return md.str();
}

// Tests x kernels, the load check first: the suite run's grid, with the check grid's columns
// (grid_cells). The kernels left out are named above it, the kernels table giving each reason.
std::string tests_grid_html(const std::vector<CellResult>& all_cells) {
    std::ostringstream h;
    const std::vector<CellResult> cells = grid_cells(all_cells);
    const std::string left_out = no_column_note(all_cells);
    auto tests = all_tests(cells);
    h << "<h2>Tests × kernels</h2>\n";
    if (!left_out.empty()) h << "<p>" << html_escape(left_out) << "</p>\n";
    if (cells.empty()) return h.str();
    h << "<table><tr><th>test</th>";
    for (const auto& c : cells) h << "<th>" << html_escape(c.name) << "</th>";
    h << "</tr>\n<tr><td><i>flowattr load --check</i></td>";
    for (const auto& c : cells) {
        std::string s = !c.suite.load_check.ran ? (c.ran_vm ? "not-run" : outcome_name(c.cls.outcome))
                        : c.suite.load_check.rc == 0 ? "pass" : "load-fail";
        std::string href = console_href(c);
        h << "<td class=\"s\" style=\"background:" << colour(s) << "\">"
          << (href.empty() ? s : "<a href=\"" + html_escape(href) + "\">" + s + "</a>") << "</td>";
    }
    h << "</tr>\n";
    for (const auto& t : tests) {
        h << "<tr><td>" << html_breakable(t, "./") << "</td>";
        for (const auto& c : cells) {
            std::string s = test_status(c, t);
            std::string href = console_href(c);
            h << "<td class=\"s\" style=\"background:" << colour(s) << "\">"
              << (href.empty() ? s : "<a href=\"" + html_escape(href) + "\">" + s + "</a>") << "</td>";
        }
        h << "</tr>\n";
    }
    h << "</table>\n";
    return h.str();
}

std::string summary_html(const std::vector<CellResult>& cells, const RunInfo& info, const std::string& bench_chart) {
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flowattr kernel matrix</title>\n<style>\n"
         "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\n"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}\n"
         "th{background:#f4f4f4}td.s{color:#fff;text-align:center;font-weight:600;font-size:12px;padding:4px 5px}"
         "td.s a{color:#fff}\n"
         // A grid wider than the window (many kernels, long class names) scrolls on its own.
         ".grid{overflow-x:auto}\n"
         ".legend span{display:inline-block;padding:2px 6px;margin:2px;color:#fff;font-size:12px;border-radius:3px}\n"
         "</style></head><body>\n<h1>flowattr kernel matrix</h1>\n";
    h << "<p>Run " << html_escape(iso_time(info.start)) << " – " << html_escape(iso_time(info.end)) << " ("
      << fixed(info.end - info.start) << " s)";
    if (!info.kernels_file.empty()) h << ", kernels from <code>" << html_escape(info.kernels_file) << "</code>";
    h << ".";
    if (!info.accel_note.empty()) h << " " << html_escape(info.accel_note) << ".";
    if (info.interrupted) h << " <b>Interrupted: partial results.</b>";
    h << "</p>\n";
    if (!bench_chart.empty())
        h << "<p>Benchmarks of the last <code>make bench</code> (datapath, event consumer, connection churn, live traffic, memory, matrix timing): <a href=\""
          << html_escape(bench_chart) << "\">" << html_escape(bench_chart) << "</a></p>\n";

    h << "<h2>Kernels</h2>\n<table><tr><th>kernel</th><th>arch</th><th>version</th><th>outcome</th><th>accel</th>"
         "<th>QEMU→init s</th><th>init→tests s</th><th>VM s</th><th>tests p/f/s</th><th>LSM</th><th>detail</th>"
         "<th>log</th></tr>\n";
    for (const auto& c : cells) {
        std::string o = outcome_name(c.cls.outcome);
        std::string href = console_href(c);
        h << "<tr><td>" << html_escape(c.name) << "</td><td>" << arch_name(c.arch) << "</td><td>" << html_escape(c.version)
          << "</td><td class=\"s\" style=\"background:"
          << colour(o) << "\">" << o << "</td><td>" << html_escape(c.accel) << "</td><td>" << fixed(c.timings.to_init)
          << "</td><td>" << fixed(c.timings.init_to_first_test) << "</td><td>" << fixed(c.timings.vm) << "</td><td>"
          << tests_cell(c) << "</td><td>" << html_breakable(c.suite.lsm, ",") << "</td><td>" << html_escape(c.cls.reason)
          << "</td><td>" << (href.empty() ? "" : "<a href=\"" + html_escape(href) + "\">console</a>") << "</td></tr>\n";
    }
    h << "</table>\n";

    h << "<div class=\"grid\">\n"
      << (info.kind == RunKind::check  ? check_grid_html(cells)
          : info.kind == RunKind::exec ? exec_html(cells, info.files)
                                       : tests_grid_html(cells))
      << "</div>\n";
    h << "<div class=\"legend\">";
    for (const char* s : {"pass", "fail", "skip", "not-run", "load-fail", "boot-fail", "panic", "splat", "timeout",
                          "unsupported", "unavailable", "infra-error"})
        h << "<span style=\"background:" << colour(s) << "\">" << s << "</span>";
    h << "</div>\n";

    // Timeline: one bar per kernel, split into boot / setup / tests / shutdown. What the guest
    // does between /init and its first test (exec: its command; check: none, up to its end).
    const char* after_init = info.kind == RunKind::check  ? "mounts, modules, the probe, flowattr check of every object"
                             : info.kind == RunKind::exec ? "mounts, modules"
                                                          : "mounts, modules, the probe, flowattr load --check";
    const char* coloured = info.kind == RunKind::check  ? ""
                           : info.kind == RunKind::exec ? "; coloured: the command (by outcome)"
                                                        : "; coloured: tests (by outcome)";
    double t0 = info.start, t1 = std::max(info.end, info.start + 1);
    for (const auto& c : cells)
        if (c.marks.exit > t1) t1 = c.marks.exit;
    // duration_w: room right of the longest bar for its "123.4 s".
    const int label_w = 110, bar_w = 640, duration_w = 60, row_h = 22;
    int height = int(cells.size()) * row_h + 30;
    auto x_of = [&](double t) { return label_w + (t - t0) / (t1 - t0) * bar_w; };
    h << "<h2>Timeline</h2>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << label_w + bar_w + duration_w
      << "\" height=\"" << height << "\" font-size=\"12\">\n";
    int row = 0;
    for (const auto& c : cells) {
        int y = row++ * row_h + 4;
        std::string phases;
        for (const auto& [phase, seconds] : c.suite.phases())
            phases += (phases.empty() ? "" : ", ") + phase + " " + fixed(seconds, 2) + " s";
        h << "<text x=\"0\" y=\"" << y + 13 << "\">" << html_escape(c.name)
          << (phases.empty() ? "" : "<title>guest clock: " + html_escape(phases) + "</title>") << "</text>\n";
        if (!c.ran_vm || c.marks.spawn <= 0) continue;
        struct Seg {
            double from, to;
            const char* colour;
            const char* what;
        };
        double end = c.marks.exit;
        auto upto = [&](double mark) { return mark > 0 ? mark : end; };
        std::vector<Seg> segs = {{c.marks.spawn, upto(c.marks.init), "#9e9e9e", "boot"}};
        if (c.marks.init > 0) segs.push_back({c.marks.init, upto(c.marks.first_test), "#5c8fd6", after_init});
        if (c.marks.first_test > 0)
            segs.push_back({c.marks.first_test, upto(c.marks.done), colour(outcome_name(c.cls.outcome)), "tests"});
        if (c.marks.done > 0) segs.push_back({c.marks.done, end, "#cfd8dc", "shutdown"});
        for (const auto& s : segs) {
            if (s.to < s.from) continue;
            h << "<rect x=\"" << fixed(x_of(s.from), 1) << "\" y=\"" << y << "\" width=\""
              << fixed(std::max(1.0, x_of(s.to) - x_of(s.from)), 1) << "\" height=\"" << row_h - 6 << "\" fill=\""
              << s.colour << "\"><title>" << html_escape(c.name) << " " << s.what << ": " << fixed(s.to - s.from, 2)
              << " s</title></rect>\n";
        }
        h << "<text x=\"" << fixed(x_of(end) + 4, 1) << "\" y=\"" << y + 13 << "\">" << fixed(end - c.marks.spawn)
          << " s</text>\n";
    }
    h << "<text x=\"" << label_w << "\" y=\"" << height - 4 << "\">0 s</text><text x=\"" << label_w + bar_w - 40
      << "\" y=\"" << height - 4 << "\">" << fixed(t1 - t0) << " s</text>\n</svg>\n";
    h << "<p>Grey: QEMU start → /init; blue: " << after_init
      << coloured
      << "; light: shutdown. Hover for durations, and on a kernel's name for its phases on the guest's own clock.</p>\n"
         "</body></html>\n";
    return h.str();
}

std::string results_json(const std::vector<CellResult>& cells, const RunInfo& info) {
    nlohmann::json j;
    j["start"] = iso_time(info.start);
    j["end"] = iso_time(info.end);
    j["interrupted"] = info.interrupted;
    j["accel_note"] = info.accel_note;
    j["exit_code"] = run_exit_code(cells, info.interrupted);
    j["kernels"] = nlohmann::json::array();
    for (const auto& c : cells) {
        nlohmann::json k;
        k["name"] = c.name;
        k["version"] = c.version;
        k["arch"] = arch_name(c.arch);
        k["outcome"] = outcome_name(c.cls.outcome);
        k["exit_code"] = outcome_exit_code(c.cls.outcome);
        k["reason"] = c.cls.reason;
        k["test"] = c.cls.test;
        k["accel"] = c.accel;
        k["cmdline"] = c.cmdline;
        k["qemu_command"] = c.qemu_command;
        k["image_sha256"] = c.image_sha256;
        k["boot"] = c.boot;
        k["initramfs_sha256"] = c.initramfs_sha256;
        k["release"] = c.suite.kernel_release;
        k["lsm"] = c.suite.lsm;
        k["attach_modes"] = c.suite.attach_modes();
        k["timings"] = {{"qemu_to_init_s", c.timings.to_init},
                        {"init_to_first_test_s", c.timings.init_to_first_test},
                        {"vm_s", c.timings.vm}};
        k["phases"] = nlohmann::json::object();
        for (const auto& [phase, seconds] : c.suite.phases()) k["phases"][phase + "_s"] = seconds;
        k["console_log"] = console_href(c);
        k["load_check"] = {{"ran", c.suite.load_check.ran}, {"rc", c.suite.load_check.rc}};
        nlohmann::json tests = nlohmann::json::array();
        for (const auto& t : c.suite.tests)
            tests.push_back({{"name", t.name}, {"result", t.result}, {"seconds", t.end - t.start},
                             {"busy_s", t.busy_s}, {"idle_s", t.idle_s}, {"timed_out", t.timed_out},
                             {"splat", t.splat}});
        k["tests"] = tests;
        j["kernels"].push_back(k);
    }
    return json_text(j, 2) + "\n";
}

void write_reports(const std::string& out_dir, const std::vector<CellResult>& cells, const RunInfo& info) {
    make_directories(out_dir);
    for (const auto& c : cells) {
        std::string dir = out_dir + "/" + cell_dir_name(c.name);
        make_directories(dir);
        write_file_atomic(dir + "/junit.xml", info.kind == RunKind::check  ? check_junit_xml(c)
                                              : info.kind == RunKind::exec ? exec_junit_xml(c)
                                                                           : junit_xml(c));
    }
    std::string text = summary_table(cells), markdown = summary_markdown(cells, info);
    if (info.kind == RunKind::check) {
        text += "\n" + check_grid_text(cells);
        markdown += check_grid_markdown(cells);
        write_file_atomic(out_dir + "/check.json", check_results_json(cells));
    } else if (info.kind == RunKind::exec) {
        text += "\n" + exec_text(cells);
        markdown += exec_markdown(cells, info.files);
        write_file_atomic(out_dir + "/exec.json", exec_results_json(info.command, info.files, cells));
    }
    write_file_atomic(out_dir + "/summary.txt", text);
    write_file_atomic(out_dir + "/summary.md", markdown);
    // make bench draws out/bench/results.svg: out/matrix/ and the benchmark's own
    // out/bench/matrix-j*/ reports both sit where one of these reaches it.
    std::string bench_chart;
    for (const char* href : {"../bench/results.svg", "../results.svg"})
        if (bench_chart.empty() && std::filesystem::exists(out_dir + "/" + href)) bench_chart = href;
    write_file_atomic(out_dir + "/index.html", summary_html(cells, info, bench_chart));
    write_file_atomic(out_dir + "/results.json", results_json(cells, info));
}

int run_exit_code(const std::vector<CellResult>& cells, bool interrupted) {
    if (interrupted) return 130;
    const CellResult* worst = nullptr;
    for (const auto& c : cells)
        if (outcome_fails_run(c.cls.outcome) && (!worst || outcome_severity(c.cls.outcome) < outcome_severity(worst->cls.outcome)))
            worst = &c;
    return worst ? outcome_exit_code(worst->cls.outcome) : 0;
}

}  // namespace flowattr::matrix
