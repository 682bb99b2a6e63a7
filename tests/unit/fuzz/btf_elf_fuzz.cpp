// libFuzzer target for the verify parsers: every input is tried as a BPF ELF object (ELF
// reader, libbpf's open, .BTF checks on the BTF libbpf would load, program and map extraction) and as a bare
// BTF blob. Any crash, sanitizer report or exception escaping is a bug: malformed input must
// only ever become findings.
#include <cstddef>
#include <cstdint>
#include <string>

#include "verify/bpf_object.h"
#include "verify/btf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    flowattr::verify::inspect_object("fuzz", "fuzz.bpf.o", bytes);
    const auto check = flowattr::verify::check_btf(bytes);
    if (check.btf) {
        flowattr::verify::btf_maps(*check.btf);
        flowattr::verify::btf_kernel_requirements(*check.btf);
    }
    return 0;
}
