#include <fstream>
#include <iostream>

#include "bench_chart.h"
#include "common/file.h"

// `make bench`'s last step: out/bench/results.json drawn as out/bench/results.svg.
int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: flowattr_bench_chart RESULTS.json OUT.svg\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    const nlohmann::json results = nlohmann::json::parse(in, nullptr, false);
    if (!in || results.is_discarded()) {
        std::cerr << "flowattr_bench_chart: cannot read " << argv[1] << " as JSON\n";
        return 1;
    }
    flowattr::write_file_atomic(argv[2], fa::bench::results_svg(results));
    std::cout << "chart: " << argv[2] << "\n";
    return 0;
}
