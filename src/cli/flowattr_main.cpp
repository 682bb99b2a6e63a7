#include <sys/utsname.h>

#include <iostream>

#include "agent/cli.h"
#include "matrix/kernel_list.h"
#include "verify/object_input.h"
#include "verify/verify_cli.h"

int main(int argc, char** argv) {
    auto verify = [](const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
        return flowattr::verify::run_verify_cli(args, out, err, [](const std::string& path) {
            flowattr::verify::KernelList kernels;
            for (const auto& k : flowattr::matrix::load_kernel_list(path)) kernels.push_back({k.name, k.version});
            return kernels;
        });
    };
    struct utsname kernel {};
    ::uname(&kernel);
    auto read_objects = [&kernel](const std::string& path) {
        std::vector<flowattr::agent::FileObject> out;
        for (auto& o : flowattr::verify::read_bpf_objects_for(path, kernel.machine))
            out.push_back({o.name, o.origin, std::move(o.bytes)});
        return out;
    };
    return flowattr::agent::run_flowattr_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr,
                                             verify, read_objects);
}
