#pragma once
// The BPF objects compiled into this binary through their skeletons, enumerated from the
// generated bpf/embedded_objects.inc so no object can be missed by load --check or verify.
#include <cstddef>
#include <string>
#include <vector>

namespace flowattr::agent {

struct EmbeddedObject {
    std::string name;  // "flow" for bpf/flow.bpf.c
    const void* data;  // the ELF bytes bpftool put into <name>.skel.h
    std::size_t size;
};

const std::vector<EmbeddedObject>& embedded_objects();

}  // namespace flowattr::agent
