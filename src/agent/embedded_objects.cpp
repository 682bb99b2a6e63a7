#include "agent/embedded_objects.h"

#include "embedded_skeletons.h"

namespace flowattr::agent {

const std::vector<EmbeddedObject>& embedded_objects() {
    static const std::vector<EmbeddedObject> objects = [] {
        std::vector<EmbeddedObject> list;
#define FA_EMBEDDED_OBJECT(name)                                  \
    {                                                             \
        std::size_t size = 0;                                     \
        const void* data = name##_bpf__elf_bytes(&size);          \
        list.push_back(EmbeddedObject{#name, data, size});        \
    }
#include "embedded_objects.inc"
#undef FA_EMBEDDED_OBJECT
        return list;
    }();
    return objects;
}

}  // namespace flowattr::agent
