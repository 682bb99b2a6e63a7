#include "bench_chart.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

namespace fa::bench {
namespace {

constexpr int kWidth = 900, kLabelWidth = 230, kBarWidth = 400, kRow = 20;
constexpr const char* kBaseline = "#9e9e9e";
constexpr const char* kNoop = "#c5cae9";
constexpr const char* kProduct = "#3f6fb5";

std::string number(double v, int decimals) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else if (c == '"') out += "&quot;";
        else out += c;
    }
    return out;
}

double num(const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
}

// The SVG being written, top to bottom: each panel adds its rows below the last.
class Chart {
public:
    void title(const std::string& text, const std::string& note) {
        y_ += 26;
        out_ << "<text x=\"0\" y=\"" << y_ << "\" font-size=\"15\" font-weight=\"600\">" << escape(text) << "</text>\n";
        if (!note.empty()) {
            y_ += 16;
            out_ << "<text x=\"0\" y=\"" << y_ << "\" fill=\"#555\">" << escape(note) << "</text>\n";
        }
        y_ += 8;
    }
    void missing(const std::string& what) {
        y_ += 16;
        out_ << "<text x=\"12\" y=\"" << y_ << "\" fill=\"#a33\">" << escape(what) << "</text>\n";
    }
    // One bar from 0 to VALUE on a scale whose full width is SCALE, labelled on the left and
    // with TEXT after its end, or after TEXT_AFTER when that is further (a reference line).
    void bar(const std::string& label, double value, double scale, const char* colour, const std::string& text,
             double text_after = 0) {
        const double w = scale > 0 ? std::max(1.0, value / scale * kBarWidth) : 1.0;
        const double text_x = kLabelWidth + std::max(w, scale > 0 ? text_after / scale * kBarWidth : 0) + 6;
        out_ << "<text x=\"0\" y=\"" << y_ + 14 << "\">" << escape(label) << "</text>\n"
             << "<rect x=\"" << kLabelWidth << "\" y=\"" << y_ + 3 << "\" width=\"" << number(w, 1) << "\" height=\""
             << kRow - 6 << "\" fill=\"" << colour << "\"><title>" << escape(label + ": " + text) << "</title></rect>\n"
             << "<text x=\"" << number(text_x, 1) << "\" y=\"" << y_ + 14 << "\">" << escape(text)
             << "</text>\n";
        y_ += kRow;
    }
    // Segments laid end to end on one row, each [value, colour, name].
    struct Segment {
        double value;
        const char* colour;
        std::string name;
    };
    void stacked(const std::string& label, const std::vector<Segment>& segments, double scale, const std::string& text) {
        out_ << "<text x=\"0\" y=\"" << y_ + 14 << "\">" << escape(label) << "</text>\n";
        double x = kLabelWidth;
        for (const Segment& s : segments) {
            const double w = scale > 0 ? std::max(0.0, s.value / scale * kBarWidth) : 0;
            out_ << "<rect x=\"" << number(x, 1) << "\" y=\"" << y_ + 3 << "\" width=\"" << number(w, 1)
                 << "\" height=\"" << kRow - 6 << "\" fill=\"" << s.colour << "\"><title>"
                 << escape(label + " " + s.name + ": " + number(s.value, 2) + " s") << "</title></rect>\n";
            x += w;
        }
        out_ << "<text x=\"" << number(x + 6, 1) << "\" y=\"" << y_ + 14 << "\">" << escape(text) << "</text>\n";
        y_ += kRow;
    }
    void legend(const std::vector<std::pair<const char*, std::string>>& entries) {
        y_ += 6;
        int x = kLabelWidth;
        for (const auto& [colour, name] : entries) {
            out_ << "<rect x=\"" << x << "\" y=\"" << y_ << "\" width=\"10\" height=\"10\" fill=\"" << colour
                 << "\"/><text x=\"" << x + 14 << "\" y=\"" << y_ + 9 << "\">" << escape(name) << "</text>\n";
            x += 24 + int(name.size()) * 7;
        }
        y_ += 16;
    }
    // A vertical reference line at VALUE on SCALE across the rows since FROM_Y.
    void reference(double value, double scale, int from_y, const std::string& name) {
        const double x = kLabelWidth + value / scale * kBarWidth;
        out_ << "<line x1=\"" << number(x, 1) << "\" y1=\"" << from_y << "\" x2=\"" << number(x, 1) << "\" y2=\"" << y_
             << "\" stroke=\"#333\" stroke-dasharray=\"4 3\"><title>" << escape(name) << "</title></line>\n";
    }
    int y() const { return y_; }
    std::string svg(const std::string& heading) const {
        std::ostringstream s;
        s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << y_ + 20
          << "\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n<title>" << escape(heading) << "</title>\n"
          << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
          << out_.str() << "</svg>\n";
        return s.str();
    }

private:
    std::ostringstream out_;
    int y_ = 0;
};

void datapath(Chart& c, const nlohmann::json& r) {
    c.title("Datapath: ns per packet", "BPF_PROG_TEST_RUN, median of alternating rounds; dashed: the noop program");
    const auto& cases = r.value("cases", nlohmann::json::array());
    if (cases.empty()) return c.missing("not measured in this run");
    double scale = 0;
    for (const auto& k : cases) scale = std::max({scale, num(k, "counter_ns"), num(k, "flow_ns")});
    scale *= 1.15;
    const int top = c.y();
    for (const auto& k : cases) {
        const std::string name = k.value("case", "?");
        c.bar(name + " (counter)", num(k, "counter_ns"), scale, kBaseline, number(num(k, "counter_ns"), 0) + " ns");
        c.bar(name + " (flowattr)", num(k, "flow_ns"), scale, kProduct,
              number(num(k, "flow_ns"), 0) + " ns, " + number(num(k, "ratio"), 2) + "x the counter");
    }
    if (num(r, "noop_ns") > 0) c.reference(num(r, "noop_ns"), scale, top, "noop: " + number(num(r, "noop_ns"), 0) + " ns");
    c.legend({{kBaseline, "plain 5-tuple counter"}, {kProduct, "flowattr's flow program"}});
}

void churn(Chart& c, const nlohmann::json& r) {
    c.title("Connection churn: short-lived TCP connections per second on lo",
            "a fresh flowattr run per rate; each bar the rate made, its text how many the agent gave the right pid");
    const auto& rates = r.value("churn", nlohmann::json::object()).value("rates", nlohmann::json::array());
    if (rates.empty()) return c.missing("not measured in this run (needs root)");
    double scale = 0;
    for (const auto& k : rates) scale = std::max(scale, num(k, "made_per_s"));
    scale *= 1.15;
    for (const auto& k : rates) {
        const bool whole = num(k, "right_pid") == num(k, "connections") && num(k, "events_lost") == 0;
        c.bar(number(num(k, "asked_per_s"), 0) + "/s asked", num(k, "made_per_s"), scale, whole ? kProduct : "#c62828",
              number(num(k, "made_per_s"), 0) + "/s made, " + number(num(k, "right_pid"), 0) + " of " +
                  number(num(k, "connections"), 0) + " right pid, " + number(num(k, "events_lost"), 0) + " lost");
    }
}

void live(Chart& c, const nlohmann::json& r) {
    c.title("Live traffic: throughput relative to no BPF",
            "iperf3 over a veth pair; the same hooks with a noop program, then flowattr run; each again without "
            "the cgroup_skb hooks; dashed: no BPF");
    const auto& l = r.value("live", nlohmann::json::object());
    const int top = c.y();
    bool any = false;
    for (const auto& [key, name] : {std::pair{"tcp_bulk_bits_per_s", "TCP bulk"}, std::pair{"udp_64_packets_per_s", "UDP, 64 B"}}) {
        if (!l.contains(key)) continue;
        any = true;
        const auto& m = l[key];
        c.bar(std::string(name) + " (noop hooks)", num(m, "ratio_noop_to_none"), 1.15, kNoop,
              number(100 * num(m, "ratio_noop_to_none"), 0) + " %", 1.0);
        c.bar(std::string(name) + " (flowattr)", num(m, "ratio_agent_to_none"), 1.15, kProduct,
              number(100 * num(m, "ratio_agent_to_none"), 0) + " %, " + number(100 * num(m, "ratio_agent_to_noop"), 0) +
                  " % of the noop hooks",
              1.0);
        // Runs from before --no-cgroup-accounting existed have no such figures.
        if (!m.contains("ratio_agent_no_cgroup_accounting_to_none")) continue;
        c.bar(std::string(name) + " (noop, veth only)", num(m, "ratio_noop_veth_only_to_none"), 1.15, kNoop,
              number(100 * num(m, "ratio_noop_veth_only_to_none"), 0) + " %", 1.0);
        // --no-cgroup-accounting, shortened to fit the label column.
        c.bar(std::string(name) + " (no cgroup acct.)", num(m, "ratio_agent_no_cgroup_accounting_to_none"), 1.15,
              kProduct,
              number(100 * num(m, "ratio_agent_no_cgroup_accounting_to_none"), 0) + " %, " +
                  number(100 * num(m, "ratio_agent_no_cgroup_accounting_to_noop_veth_only"), 0) +
                  " % of the veth noop",
              1.0);
    }
    if (!any) return c.missing("not measured in this run (needs root and iperf3)");
    c.reference(1.0, 1.15, top, "no BPF");
    c.legend({{kNoop, "noop program at the same hooks"}, {kProduct, "flowattr run"}});
}

void events(Chart& c, const nlohmann::json& r) {
    c.title("Ring-buffer consumer: flow events per second", "the agent's poll_events() draining a full round; dashed: the target");
    const auto& e = r.value("events", nlohmann::json::object());
    if (e.empty()) return c.missing("not measured in this run (needs root)");
    const double target = num(e, "target_events_per_s");
    const double scale = std::max({num(e, "noted_events_per_s"), num(e, "json_events_per_s"), target}) * 1.15;
    const int top = c.y();
    c.bar("noted", num(e, "noted_events_per_s"), scale, kNoop, number(num(e, "noted_events_per_s") / 1e6, 2) + " M/s", target);
    c.bar("noted + printed as JSON", num(e, "json_events_per_s"), scale, kProduct,
          number(num(e, "json_events_per_s") / 1e6, 2) + " M/s, " + number(num(e, "lost"), 0) + " lost", target);
    c.reference(target, scale, top, "target " + number(target / 1e6, 0) + " M/s");
}

void memory(Chart& c, const nlohmann::json& r) {
    c.title("Agent memory: peak RSS of flowattr run with a full flow table", "VmHWM; dashed: the target");
    const auto& table = r.value("table", nlohmann::json::array());
    if (table.empty()) return c.missing("not measured in this run (needs root)");
    double scale = 0;
    for (const auto& t : table) scale = std::max({scale, num(t, "agent_peak_rss_mib"), num(t, "target_rss_mib")});
    scale *= 1.15;
    for (const auto& t : table) {
        const int top = c.y();
        c.bar(number(num(t, "flows"), 0) + " flows", num(t, "agent_peak_rss_mib"), scale, kProduct,
              number(num(t, "agent_peak_rss_mib"), 1) + " MiB (target " + number(num(t, "target_rss_mib"), 0) +
                  "), table read " + number(num(t, "table_read_ms"), 0) + " ms",
              num(t, "target_rss_mib"));
        c.reference(num(t, "target_rss_mib"), scale, top, "target " + number(num(t, "target_rss_mib"), 0) + " MiB");
    }
}

void matrix(Chart& c, const nlohmann::json& r) {
    const auto& m = r.value("matrix", nlohmann::json::object());
    std::string walls;
    for (const auto& [key, jobs] :
         {std::pair{"wall_s_j1", "-j1"}, std::pair{"wall_s_j2", "-j2"}, std::pair{"wall_s_default", "default -j"}})
        if (num(m, key) > 0) walls += std::string(walls.empty() ? "whole matrix: " : ", ") + jobs + " " + number(num(m, key), 0) + " s";
    c.title("Kernel matrix: seconds per VM", walls);
    const auto& kernels = m.value("kernels", nlohmann::json::object());
    if (kernels.empty()) return c.missing("not measured in this run (needs QEMU and the kernels)");
    double scale = 0;
    for (const auto& [name, k] : kernels.items()) scale = std::max(scale, num(k, "vm_s"));
    scale *= 1.15;
    for (const auto& [name, k] : kernels.items()) {
        const double boot = num(k, "qemu_to_init_s"), setup = num(k, "init_to_first_test_s");
        const double tests = std::max(0.0, num(k, "vm_s") - boot - setup);
        c.stacked(name, {{boot, kBaseline, "boot (QEMU start to /init)"}, {setup, kNoop, "setup + load check"}, {tests, kProduct, "tests"}},
                  scale, number(num(k, "vm_s"), 1) + " s, " + k.value("outcome", "?"));
    }
    c.legend({{kBaseline, "boot"}, {kNoop, "setup + load check"}, {kProduct, "tests"}});
}

}  // namespace

std::string results_svg(const nlohmann::json& results) {
    Chart c;
    const std::string heading = "flowattr benchmarks, commit " + results.value("commit", std::string("?")).substr(0, 12);
    const auto& machine = results.value("machine", nlohmann::json::object());
    c.title(heading, machine.value("cpu", std::string("?")) + ", " + number(num(machine, "cpus"), 0) + " CPUs, kernel " +
                         machine.value("kernel", std::string("?")));
    datapath(c, results);
    events(c, results);
    churn(c, results);
    live(c, results);
    memory(c, results);
    matrix(c, results);
    return c.svg(heading);
}

}  // namespace fa::bench
