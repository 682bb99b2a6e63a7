#pragma once
// The results channel between a matrix guest and the host: one JSON object per line on
// /dev/ttyS1 (never the console, so kernel messages cannot interleave with results), each
// {"type": <RecordType>, ...}. The guest (init.cpp) writes them, the host (matrix/vm_suite.cpp)
// reads them; both name the types through this one enum. docs/ARCHITECTURE.md shows the order.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace flowattr::guest {

enum class RecordType {
    init,        // /init started: uptime, mode, release, boot_splat
    mounts,      // failed: [fs types that did not mount]
    setup,       // modules: {file: errno}, lo: errno, lsm
    probe,       // `flowattr probe --json`: rc, output
    load_check,  // `flowattr load --check`: rc, start, end, timed_out, output, splat
    check,       // one program of `flowattr check --json`: result
    check_done,  // how `flowattr check` ended: rc, start, end, timed_out, output, splat
    list,        // the kernel tests: rc, count, uptime, output (when listing failed)
    begin,       // a test starts: name, uptime
    test,        // a test ended: name, rc, start, end, timed_out, splat, output, gtest
    exec,        // `kmatrix exec`'s command ended: argv, rc, signal, start, end, timed_out, output, splat
    done,        // everything ran: uptime
};

const char* record_type_name(RecordType t);
std::optional<RecordType> parse_record_type(const std::string& name);

// {"type": "<name>"}: the start of every record.
nlohmann::json make_record(RecordType t);

// One line of the channel, newline-terminated. Invalid UTF-8 in a test's output is replaced,
// never a reason to lose the record.
std::string record_line(const nlohmann::json& record);

// The first kernel splat line (WARNING:, BUG:, Oops, general protection fault) in TEXT, without
// its newline; empty when there is none. The guest matches each step's kernel log with it, the
// host the console after /init: one matcher, so both agree on what a splat is.
std::string find_splat(const std::string& text);

// find_splat over the kernel's lines of a console, which carries the guest's own output too (a
// brought tool printing "WARNING: ..."): only lines printk stamped with the time since boot
// ("[    2.345678] ", every kernel of the matrix prints them) are the kernel's.
std::string find_console_splat(const std::string& console);

}  // namespace flowattr::guest
