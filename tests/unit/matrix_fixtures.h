#pragma once
// Canned results-channel records, written the way the guest's /init writes them, so the
// parser, classifier and reports are tested against the real wire format.
#include <string>

namespace flowattr::matrix::fixtures {

inline std::string b64(const std::string& in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = unsigned((unsigned char)in[i]) << 16 | unsigned((unsigned char)in[i + 1]) << 8 | (unsigned char)in[i + 2];
        out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
    }
    if (i + 1 == in.size()) {
        unsigned v = unsigned((unsigned char)in[i]) << 16;
        out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        unsigned v = unsigned((unsigned char)in[i]) << 16 | unsigned((unsigned char)in[i + 1]) << 8;
        out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
    }
    return out;
}

inline std::string init_line(const std::string& mode = "suite") {
    return R"({"type":"init","uptime":1.65,"mode":")" + mode + R"(","release":"6.1.0-50-cloud-amd64","boot_splat":""})";
}
inline std::string setup_line() {
    return R"({"type":"setup","modules":{"cls_bpf.ko":0,"sch_ingress.ko":0},"lo":0,"lsm":"lockdown,capability,bpf"})";
}
inline std::string load_line(int rc, const std::string& output = "ok all loaded\n", const std::string& splat = "",
                             double start = 1.8, double end = 1.9) {
    return R"({"type":"load_check","rc":)" + std::to_string(rc) + R"(,"start":)" + std::to_string(start) +
           R"(,"end":)" + std::to_string(end) + R"(,"timeout":120,"output":")" + b64(output) + R"(","splat":")" +
           b64(splat) + R"("})";
}
inline std::string list_line(int count) {
    return R"({"type":"list","rc":0,"count":)" + std::to_string(count) + R"(,"uptime":1.95,"output":""})";
}
inline std::string begin_line(const std::string& name) {
    return R"({"type":"begin","name":")" + name + R"(","uptime":2.0})";
}
inline std::string gtest_json(const std::string& suite, const std::string& name, const std::string& result,
                              const std::string& failure = "", const std::string& extra = "") {
    std::string failures = failure.empty() ? "" : R"(,"failures":[{"failure":")" + failure + R"(","type":""}])";
    return R"({"tests":1,"testsuites":[{"name":")" + suite + R"(","testsuite":[{"name":")" + name +
           R"(","status":"RUN","result":")" + result + R"(","time":"0.01s","classname":")" + suite + "\"" + extra +
           failures + "}]}]}";
}
inline std::string test_line(const std::string& full, int rc, const std::string& json, const std::string& splat = "",
                             double start = 2.0, double end = 2.5, const std::string& output = "") {
    return R"({"type":"test","name":")" + full + R"(","rc":)" + std::to_string(rc) + R"(,"start":)" +
           std::to_string(start) + R"(,"end":)" + std::to_string(end) + R"(,"timeout":120,"splat":")" + b64(splat) +
           R"(","output":")" + b64(output) + R"(","json":")" + b64(json) + R"("})";
}
inline std::string passing_test(const std::string& suite, const std::string& name, const std::string& extra = "") {
    return test_line(suite + "." + name, 0, gtest_json(suite, name, "COMPLETED", "", extra));
}
inline std::string done_line() { return R"({"type":"done","uptime":3.1})"; }

// `kmatrix check`: what /init's sed makes of one `flowattr check --json` line, and the end.
inline std::string check_line(const std::string& program_json) {
    return R"({"type":"check","result":)" + program_json + "}";
}
inline std::string check_done_line(int rc, const std::string& stderr_text = "", const std::string& splat = "") {
    return R"({"type":"check_done","rc":)" + std::to_string(rc) + R"(,"start":2.0,"end":3.0,"timeout":1200,"output":")" +
           b64(stderr_text) + R"(","splat":")" + b64(splat) + R"("})";
}

}  // namespace flowattr::matrix::fixtures
