#include "diagnose/check_record.h"

#include <cstdio>
#include <ostream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/json_text.h"

namespace flowattr::diagnose {
namespace {

std::string cut_log(const std::string& log, std::size_t limit) {
    if (limit == 0 || log.size() <= limit) return log;
    std::size_t head = limit / 8, tail = limit - head;
    return log.substr(0, head) + "\n... " + std::to_string(log.size() - head - tail) + " bytes of the log cut ...\n" +
           log.substr(log.size() - tail);
}

}  // namespace

const char* check_status_name(CheckStatus status) {
    switch (status) {
        case CheckStatus::pass: return "pass";
        case CheckStatus::fail: return "fail";
        case CheckStatus::skip: return "skip";
    }
    return "fail";
}

std::optional<CheckStatus> check_status_from_name(const std::string& name) {
    for (CheckStatus s : {CheckStatus::pass, CheckStatus::fail, CheckStatus::skip})
        if (name == check_status_name(s)) return s;
    return std::nullopt;
}

std::string program_check_json(const ProgramCheck& c, std::size_t log_limit) {
    nlohmann::json j = {{"object", c.object},   {"program", c.program},
                        {"section", c.section}, {"status", check_status_name(c.status)},
                        {"class", nullptr},     {"message", nullptr},
                        {"cause", nullptr},     {"fix", nullptr},
                        {"stage", nullptr},     {"errno", nullptr},
                        {"attach", c.attach},   {"note", c.note},
                        {"insns", c.insns_processed}, {"log", cut_log(c.log, log_limit)}};
    if (c.diagnosis) {
        j["class"] = cause_name(c.diagnosis->cause);
        j["message"] = c.diagnosis->message;
        j["cause"] = c.diagnosis->cause_text;
        j["fix"] = c.diagnosis->fix;
        j["stage"] = stage_name(c.stage);
        j["errno"] = c.err;
    }
    return json_text(j);
}

std::optional<ProgramCheck> program_check_from_json(const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    ProgramCheck c;
    c.object = str("object");
    c.program = str("program");
    c.section = str("section");
    auto status = check_status_from_name(str("status"));
    if (!status) return std::nullopt;
    c.status = *status;
    c.attach = str("attach");
    c.note = str("note");
    c.log = str("log");
    if (j.contains("insns") && j["insns"].is_number_unsigned()) c.insns_processed = j["insns"].get<std::uint64_t>();
    if (c.status == CheckStatus::fail) {
        auto cause = cause_from_name(str("class"));
        if (!cause) return std::nullopt;
        c.diagnosis = Diagnosis{*cause, str("message"), str("cause"), str("fix")};
        std::string stage = str("stage");
        c.stage = stage == "attach" ? Stage::attach : stage == "run" ? Stage::run : Stage::load;
        if (j.contains("errno") && j["errno"].is_number_integer()) c.err = j["errno"].get<int>();
    }
    return c;
}

int print_check_report(const std::vector<ProgramCheck>& checks, bool full_log, std::ostream& out) {
    int failures = 0;
    char line[768];
    for (const auto& c : checks) {
        const char* state = c.status == CheckStatus::pass ? "ok" : c.status == CheckStatus::skip ? "skip" : "FAIL";
        std::string detail;
        if (c.status == CheckStatus::pass) {
            detail = std::to_string(c.insns_processed) + " insns processed";
            if (!c.attach.empty()) detail += ", attached (" + c.attach + ")";
            if (!c.note.empty()) detail += "; " + c.note;
        } else if (c.status == CheckStatus::skip) {
            detail = c.note;
        } else {
            detail = std::string(cause_name(c.diagnosis->cause)) + " at " + stage_name(c.stage) +
                     ": " + c.diagnosis->message;
        }
        std::snprintf(line, sizeof(line), "%-4s %-14s %-24s %-26s %s\n", state, c.object.c_str(), c.program.c_str(),
                      c.section.c_str(), detail.c_str());
        out << line;
        if (c.status == CheckStatus::fail) {
            failures++;
            out << "     cause: " << c.diagnosis->cause_text << "\n"
                << "     fix:   " << c.diagnosis->fix << "\n"
                << "     " << (c.err ? describe_errno(stage_name(c.stage), c.err) : std::string("no errno")) << "\n"
                << "---- log: " << c.object << "/" << c.program << " ----\n"
                << (c.log.empty() ? "(empty)\n" : c.log) << (c.log.empty() || c.log.back() == '\n' ? "" : "\n")
                << "---- end of log ----\n";
        } else if (full_log && !c.log.empty()) {
            out << c.log;
        }
    }
    out << checks.size() << " programs: " << (checks.size() - std::size_t(failures)) << " passed or skipped, "
        << failures << " failed\n";
    return failures ? 1 : 0;
}

}  // namespace flowattr::diagnose
