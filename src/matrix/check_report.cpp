#include "matrix/check_report.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_text.h"
#include "matrix/report.h"

namespace flowattr::matrix {
namespace {

using diagnose::Cause;
using diagnose::CheckStatus;
using diagnose::ProgramCheck;

std::string row_name(const CheckRow& r) { return r.object + "/" + r.program; }

std::string first_line(const std::string& s, std::size_t max) {
    std::string l = s.substr(0, s.find('\n'));
    return l.size() > max ? l.substr(0, max - 3) + "..." : l;
}

}  // namespace

std::vector<CheckRow> check_rows(const std::vector<CellResult>& cells) {
    std::vector<CheckRow> rows;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& c : cells)
        for (const auto& p : c.suite.check.programs)
            if (seen.insert({p.object, p.program}).second) rows.push_back({p.object, p.program, p.section});
    return rows;
}

const ProgramCheck* check_result(const CellResult& cell, const CheckRow& row) {
    for (const auto& p : cell.suite.check.programs)
        if (p.object == row.object && p.program == row.program) return &p;
    return nullptr;
}

CheckGridCell grid_cell(const CellResult& cell, const CheckRow& row) {
    CheckGridCell g;
    g.outcome = cell.cls.outcome;
    if ((g.result = check_result(cell, row))) {
        g.state = CheckGridCell::State::result;
    } else if (!cell.ran_vm) {
        g.state = CheckGridCell::State::not_run;
    } else if (cell.cls.outcome != Outcome::pass) {
        g.state = CheckGridCell::State::vm_ended;
    } else {
        // A kernel that checked everything it was given and reported no program of the row's
        // object was not given it: an executable goes only to its own architecture's kernels
        // (kmatrix check stages it so), and any other input that cannot be read stops the
        // check (no pass).
        const auto& programs = cell.suite.check.programs;
        const bool object_reported =
            std::any_of(programs.begin(), programs.end(), [&](const ProgramCheck& p) { return p.object == row.object; });
        g.state = object_reported ? CheckGridCell::State::missing : CheckGridCell::State::not_given;
    }
    return g;
}

bool CheckGridCell::failed() const {
    switch (state) {
        case State::result: return result->status == CheckStatus::fail;
        case State::vm_ended:
        case State::missing: return true;
        case State::not_run:
        case State::not_given: return false;
    }
    return false;
}

namespace {

// A pass the kernel verified with nothing attached: what the grids label `loaded`.
bool loaded_only(const diagnose::ProgramCheck& p) { return p.status == CheckStatus::pass && p.attach.empty(); }

}  // namespace

bool CheckGridCell::loaded_only() const { return state == State::result && matrix::loaded_only(*result); }

std::string CheckGridCell::label() const {
    switch (state) {
        case State::result:
            if (result->status == CheckStatus::fail)
                return result->diagnosis ? diagnose::cause_name(result->diagnosis->cause) : "fail";
            if (loaded_only()) return "loaded";
            return diagnose::check_status_name(result->status);
        case State::not_given: return "other-arch";
        case State::missing: return "missing";
        case State::vm_ended:
        case State::not_run: return outcome_name(outcome);
    }
    return {};
}

std::string check_cell_label(const CellResult& cell, const CheckRow& row) { return grid_cell(cell, row).label(); }

namespace {

// The bare table: a header of kernel names, one line per program.
std::string grid_table(const std::vector<CellResult>& all_cells) {
    const std::vector<CellResult> cells = grid_cells(all_cells);
    auto rows = check_rows(cells);
    std::size_t w0 = 7;
    for (const auto& r : rows) w0 = std::max(w0, row_name(r).size());
    std::vector<std::size_t> w;
    for (const auto& c : cells) {
        std::size_t cw = c.name.size();
        for (const auto& r : rows) cw = std::max(cw, check_cell_label(c, r).size());
        w.push_back(cw);
    }
    std::ostringstream t;
    auto pad = [](const std::string& s, std::size_t n) { return s + std::string(n > s.size() ? n - s.size() : 0, ' '); };
    t << pad("program", w0);
    for (std::size_t i = 0; i < cells.size(); i++) t << "  " << pad(cells[i].name, w[i]);
    t << "\n";
    for (const auto& r : rows) {
        t << pad(row_name(r), w0);
        for (std::size_t i = 0; i < cells.size(); i++) t << "  " << pad(check_cell_label(cells[i], r), w[i]);
        t << "\n";
    }
    return t.str();
}

}  // namespace

std::string check_grid_text(const std::vector<CellResult>& cells) {
    auto rows = check_rows(cells);
    std::ostringstream t;
    t << grid_table(cells);
    const std::string left_out = no_column_note(cells);
    if (!left_out.empty()) t << left_out << "\n";
    // Each distinct failure once, with its cause and fix: the grid says where, this says why.
    std::set<std::string> shown;
    for (const auto& r : rows)
        for (const auto& c : cells) {
            const ProgramCheck* p = check_result(c, r);
            if (!p || p->status != CheckStatus::fail || !p->diagnosis) continue;
            std::string key = row_name(r) + "|" + diagnose::cause_name(p->diagnosis->cause);
            std::vector<std::string> where;
            for (const auto& other : cells) {
                const ProgramCheck* q = check_result(other, r);
                if (q && q->diagnosis && q->diagnosis->cause == p->diagnosis->cause) where.push_back(other.name);
            }
            if (!shown.insert(key).second) continue;
            std::string kernels;
            for (const auto& k : where) kernels += (kernels.empty() ? "" : ",") + k;
            t << "\n" << row_name(r) << " [" << diagnose::cause_name(p->diagnosis->cause) << "] on " << kernels << "\n"
              << "  message: " << first_line(p->diagnosis->message, 300) << "\n"
              << "  cause:   " << p->diagnosis->cause_text << "\n"
              << "  fix:     " << p->diagnosis->fix << "\n";
        }
    return t.str();
}

std::string check_grid_markdown(const std::vector<CellResult>& all_cells) {
    const std::vector<CellResult> cells = grid_cells(all_cells);
    auto rows = check_rows(cells);
    std::ostringstream md;
    md << "\n### Programs × kernels\n\n| program | section |";
    for (const auto& c : cells) md << " " << markdown_cell(c.name) << " |";
    md << "\n|---|---|";
    for (std::size_t i = 0; i < cells.size(); i++) md << "---|";
    md << "\n";
    for (const auto& r : rows) {
        md << "| " << markdown_cell(row_name(r)) << " | `" << markdown_cell(r.section) << "` |";
        for (const auto& c : cells) {
            const CheckGridCell g = grid_cell(c, r);
            const bool passed = g.state == CheckGridCell::State::result && g.result->status == CheckStatus::pass;
            md << " " << (passed ? "✅ " : g.failed() ? "❌ " : "") << markdown_cell(g.label()) << " |";
        }
        md << "\n";
    }
    const std::string left_out = no_column_note(all_cells);
    if (!left_out.empty()) md << "\n" << markdown_cell(left_out) << "\n";
    return md.str();
}

std::string check_grid_html(const std::vector<CellResult>& all_cells) {
    const std::vector<CellResult> cells = grid_cells(all_cells);
    auto rows = check_rows(cells);
    std::ostringstream h;
    h << "<h2>Programs × kernels</h2>\n<table><tr><th>program</th><th>section</th>";
    for (const auto& c : cells) h << "<th>" << html_escape(c.name) << "</th>";
    h << "</tr>\n";
    for (const auto& r : rows) {
        h << "<tr><td>" << html_breakable(row_name(r), "/_") << "</td><td><code>" << html_breakable(r.section, "/_") << "</code></td>";
        for (const auto& c : cells) {
            const CheckGridCell g = grid_cell(c, r);
            const ProgramCheck* p = g.result;
            const std::string title =
                p && p->diagnosis ? p->diagnosis->message + "\n" + p->diagnosis->cause_text + "\nfix: " + p->diagnosis->fix
                : p               ? p->note
                : g.state == CheckGridCell::State::not_given
                    ? r.object + " is an executable built for another architecture than " + arch_name(c.arch) +
                          ": not checked on this kernel"
                    : c.cls.reason;
            // A loaded-only pass pale, with dark text: verified, not attached.
            const char* style = g.loaded_only()                       ? "background:#c8e6c9;color:#1b5e20"
                                : p && p->status == CheckStatus::pass ? "background:#2e7d32"
                                : p && p->status == CheckStatus::skip ? "background:#9e9e9e"
                                : g.failed()                          ? "background:#c62828"
                                                                      : "background:#757575";
            h << "<td class=\"s\" style=\"" << style << "\" title=\"" << html_escape(title) << "\">"
              << html_escape(g.label()) << "</td>";
        }
        h << "</tr>\n";
    }
    const std::string left_out = no_column_note(all_cells);
    h << "</table>\n<p>" << (left_out.empty() ? "" : html_escape(left_out) + " ")
      << "Hover a cell for the kernel's message, the cause and the fix; "
         "the classes are explained in docs/TROUBLESHOOTING.md. <i>loaded</i>: verified by the kernel, "
         "nothing attached (the section names no target; the program's own loader picks one).</p>\n";
    return h.str();
}

std::string check_junit_xml(const CellResult& c) {
    std::ostringstream cases;
    int tests = 0, failures = 0, skipped = 0;
    const std::string cls = "kernel." + c.name;
    for (const auto& p : c.suite.check.programs) {
        tests++;
        cases << "    <testcase classname=\"" << xml_escape(cls + "." + p.object) << "\" name=\"" << xml_escape(p.program)
              << "\">\n";
        if (p.status == CheckStatus::fail && p.diagnosis) {
            failures++;
            cases << "      <failure type=\"" << diagnose::cause_name(p.diagnosis->cause) << "\" message=\""
                  << xml_escape(first_line(p.diagnosis->message, 500)) << "\">"
                  << xml_escape("section: " + p.section + "\nstage: " + diagnose::stage_name(p.stage) +
                                "\nmessage: " + p.diagnosis->message + "\ncause: " + p.diagnosis->cause_text +
                                "\nfix: " + p.diagnosis->fix + "\n\n" + p.log)
                  << "</failure>\n";
        } else if (p.status == CheckStatus::skip) {
            skipped++;
            cases << "      <skipped message=\"" << xml_escape(first_line(p.note, 500)) << "\"/>\n";
        } else if (!p.note.empty()) {
            cases << "      <system-out>" << xml_escape(p.note) << "</system-out>\n";
        }
        cases << "    </testcase>\n";
    }
    // The VM's own verdict, so a kernel that never ran the check still shows up.
    tests++;
    bool vm_error = outcome_fails_run(c.cls.outcome);
    bool vm_skip = !c.ran_vm && !vm_error;
    skipped += vm_skip;
    cases << "    <testcase classname=\"" << xml_escape(cls) << "\" name=\"vm\">\n";
    if (vm_error)
        cases << "      <error type=\"" << outcome_name(c.cls.outcome) << "\" message=\""
              << xml_escape(first_line(c.cls.reason, 500)) << "\">" << xml_escape(c.cls.reason) << "</error>\n";
    else if (vm_skip)
        cases << "      <skipped message=\"" << outcome_name(c.cls.outcome) << ": " << xml_escape(first_line(c.cls.reason, 500))
              << "\"/>\n";
    cases << "    </testcase>\n";
    std::ostringstream x;
    x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kmatrix check\" tests=\"" << tests
      << "\" failures=\"" << failures << "\" errors=\"" << int(vm_error) << "\" skipped=\"" << skipped << "\">\n"
      << "  <testsuite name=\"" << xml_escape(cls) << "\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"" << int(vm_error) << "\" skipped=\"" << skipped << "\">\n"
      << "    <properties>\n"
      << "      <property name=\"kernel.version\" value=\"" << xml_escape(c.version) << "\"/>\n"
      << "      <property name=\"kernel.image_sha256\" value=\"" << xml_escape(c.image_sha256) << "\"/>\n"
      << "      <property name=\"outcome\" value=\"" << outcome_name(c.cls.outcome) << "\"/>\n"
      << "    </properties>\n"
      << cases.str() << "  </testsuite>\n</testsuites>\n";
    return x.str();
}

std::string check_results_json(const std::vector<CellResult>& cells) {
    nlohmann::json kernels = nlohmann::json::array(), results = nlohmann::json::array();
    for (const auto& c : cells) {
        kernels.push_back({{"name", c.name}, {"version", c.version}, {"arch", arch_name(c.arch)},
                           {"outcome", outcome_name(c.cls.outcome)},
                           {"reason", c.cls.reason}});
        for (const auto& p : c.suite.check.programs) {
            auto r = nlohmann::json::parse(diagnose::program_check_json(p));
            r["kernel"] = c.name;
            results.push_back(r);
        }
    }
    return json_text(nlohmann::json{{"kernels", kernels}, {"results", results}}, 2) + "\n";
}

std::string check_tally(const std::vector<CellResult>& cells) {
    std::map<std::string, int> by_class;
    int pass = 0, loaded = 0, fail = 0, skip = 0, kernels = 0, unclassified = 0;
    for (const auto& c : cells) {
        kernels += c.ran_vm;
        for (const auto& p : c.suite.check.programs) {
            // As the grids count them.
            if (loaded_only(p)) loaded++;
            else if (p.status == CheckStatus::pass) pass++;
            if (p.status == CheckStatus::skip) skip++;
            if (p.status != CheckStatus::fail) continue;
            fail++;
            Cause cause = p.diagnosis ? p.diagnosis->cause : Cause::unclassified;
            if (cause == Cause::unclassified) unclassified++;
            else by_class[diagnose::cause_name(cause)]++;
        }
    }
    std::ostringstream t;
    t << "programs: " << pass << " pass, " << loaded << " loaded, " << fail << " fail, " << skip << " skip over " << kernels
      << " kernels";
    if (!by_class.empty()) {
        t << "; failures by class:";
        const char* sep = " ";
        for (const auto& [name, n] : by_class) {
            t << sep << name << " " << n;
            sep = ", ";
        }
    }
    t << "; unclassified: " << unclassified << "\n";
    return t.str();
}

int check_exit_code(const std::vector<CellResult>& cells, bool interrupted) {
    if (interrupted) return 1;
    for (const auto& c : cells) {
        if (outcome_fails_run(c.cls.outcome)) return 1;
        for (const auto& p : c.suite.check.programs)
            if (p.status == CheckStatus::fail) return 1;
    }
    // A program a kernel was given and never reported is no pass either.
    for (const auto& r : check_rows(cells))
        for (const auto& c : cells)
            if (grid_cell(c, r).state == CheckGridCell::State::missing) return 1;
    return 0;
}

ExpectedGrid parse_expected_grid(const std::string& text) {
    ExpectedGrid g;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        n++;
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::vector<std::string> words;
        for (std::string w; fields >> w;) words.push_back(w);
        if (words.empty()) continue;
        if (g.kernels.empty()) {
            if (words[0] != "program" || words.size() < 2)
                throw Error("line " + std::to_string(n) + ": the first line must be \"program KERNEL...\"");
            g.kernels.assign(words.begin() + 1, words.end());
            continue;
        }
        if (words.size() != g.kernels.size() + 1)
            throw Error("line " + std::to_string(n) + ": " + std::to_string(words.size() - 1) + " labels for " +
                        std::to_string(g.kernels.size()) + " kernels");
        if (g.labels.count(words[0])) throw Error("line " + std::to_string(n) + ": " + words[0] + " listed twice");
        g.rows.push_back(words[0]);
        for (std::size_t i = 0; i < g.kernels.size(); i++) g.labels[words[0]][g.kernels[i]] = words[i + 1];
    }
    if (g.kernels.empty()) throw Error("no header line \"program KERNEL...\"");
    return g;
}

std::string expected_grid_text(const std::vector<CellResult>& cells) {
    std::vector<CellResult> ran;
    for (const auto& c : cells)
        if (c.ran_vm) ran.push_back(c);
    std::ostringstream t;
    t << "# kmatrix lab: what each kernel really does with each fixture (tests/kernel/fixtures).\n"
      << "# Labels: pass, loaded (verified, nothing attached), skip, or the failure class (docs/TROUBLESHOOTING.md). Kernels:";
    for (const auto& c : ran) t << " " << c.name << "=" << c.version;
    t << "\n# Re-record with `kmatrix lab --write-expected FILE` after checking every change by hand.\n"
      << grid_table(ran);
    return t.str();
}

std::vector<std::string> compare_with_expected(const ExpectedGrid& expected, const std::vector<CellResult>& cells) {
    std::vector<std::string> diffs;
    for (const auto& c : cells) {
        if (!c.ran_vm && !outcome_fails_run(c.cls.outcome)) continue;  // unavailable here: nothing to hold
        if (std::find(expected.kernels.begin(), expected.kernels.end(), c.name) == expected.kernels.end()) {
            diffs.push_back("kernel " + c.name + " ran, but the expected grid has no column for it");
            continue;
        }
        std::set<std::string> reported;
        for (const auto& r : check_rows({c})) {
            std::string name = r.object + "/" + r.program;
            reported.insert(name);
            auto row = expected.labels.find(name);
            std::string got = check_cell_label(c, r);
            if (row == expected.labels.end()) {
                diffs.push_back(name + " on " + c.name + ": got " + got + ", but the expected grid has no row for it");
                continue;
            }
            const std::string& want = row->second.at(c.name);
            if (want != got) {
                const auto* p = check_result(c, r);
                diffs.push_back(name + " on " + c.name + ": expected " + want + ", got " + got +
                                (p && p->diagnosis ? " (" + first_line(p->diagnosis->message, 200) + ")" : ""));
            }
        }
        for (const auto& name : expected.rows)
            if (!reported.count(name))
                diffs.push_back(name + " on " + c.name + ": expected " + expected.labels.at(name).at(c.name) + ", got " +
                                (c.ran_vm ? "no result" : std::string(outcome_name(c.cls.outcome)) + ": " + c.cls.reason));
    }
    return diffs;
}

std::vector<std::string> list_fixture_objects(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw Error("cannot read fixture directory " + dir, errno);
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.size() > 6 && name.compare(name.size() - 6, 6, ".bpf.o") == 0) out.push_back(dir + "/" + name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    if (out.empty()) throw Error("no *.bpf.o in " + dir + " (build the flowattr_lab_fixtures target)");
    return out;
}

}  // namespace flowattr::matrix
