#include "guest/record.h"

#include <regex>
#include <sstream>

#include "common/json_text.h"

namespace flowattr::guest {

namespace {

struct TypeName {
    RecordType type;
    const char* name;
};
constexpr TypeName kTypes[] = {
    {RecordType::init, "init"},         {RecordType::mounts, "mounts"},
    {RecordType::setup, "setup"},       {RecordType::probe, "probe"},
    {RecordType::load_check, "load_check"}, {RecordType::check, "check"},
    {RecordType::check_done, "check_done"}, {RecordType::list, "list"},
    {RecordType::begin, "begin"},       {RecordType::test, "test"},
    {RecordType::exec, "exec"},         {RecordType::done, "done"},
};

}  // namespace

const char* record_type_name(RecordType t) {
    for (const auto& e : kTypes)
        if (e.type == t) return e.name;
    return "done";
}

std::optional<RecordType> parse_record_type(const std::string& name) {
    for (const auto& e : kTypes)
        if (name == e.name) return e.type;
    return std::nullopt;
}

nlohmann::json make_record(RecordType t) { return {{"type", record_type_name(t)}}; }

std::string record_line(const nlohmann::json& record) {
    return json_text(record) + "\n";
}

std::string find_splat(const std::string& text) {
    static const std::regex re("WARNING:|BUG:|Oops|general protection");
    std::smatch m;
    if (!std::regex_search(text, m, re)) return {};
    auto begin = text.rfind('\n', std::size_t(m.position(0)));
    begin = begin == std::string::npos ? 0 : begin + 1;
    auto end = text.find('\n', std::size_t(m.position(0)));
    std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    while (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::string find_console_splat(const std::string& console) {
    static const std::regex stamped(R"(^\[ *\d+\.\d+\] )");
    std::string kernel_lines;
    std::istringstream lines(console);
    for (std::string line; std::getline(lines, line);)
        if (std::regex_search(line, stamped)) kernel_lines += line + "\n";
    return find_splat(kernel_lines);
}

}  // namespace flowattr::guest
