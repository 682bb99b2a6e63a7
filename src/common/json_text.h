#pragma once
// The text of every JSON document and line flowattr and kmatrix write. nlohmann's dump()
// throws on bytes that are not UTF-8, and such bytes reach the output from outside: a
// process name (any user can set one with prctl), an interface name, a file path, a kernel's
// console line. They become U+FFFD instead, so no name can stop a report.
#include <string>

#include <nlohmann/json.hpp>

namespace flowattr {

// INDENT as for dump(): -1 one line, 2 pretty-printed.
inline std::string json_text(const nlohmann::json& j, int indent = -1) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace flowattr
