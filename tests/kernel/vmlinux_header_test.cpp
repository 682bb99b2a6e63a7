// bpf/vmlinux/<arch>/vmlinux.h is written by hand, per architecture, never dumped from the
// build host: the types the embedded objects carry in their BTF are held against the running
// kernel's own BTF. Every kernel struct the objects use must exist here with every member the
// header names (libbpf relocates those accesses by name: CO-RE). UAPI context structs, whose
// fields the verifier rewrites by offset (__sk_buff, bpf_sock, bpf_spin_lock: named __* or
// bpf_*, bpf_iter__* being kernel-internal), must match member for member in offset and size,
// except for fields a later kernel added in padding or at the end (the header follows the
// newest UAPI).
// Runs on the host and in every matrix VM, so each architecture's header meets that
// architecture's kernels.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "agent/embedded_objects.h"
#include "agent/libbpf_support.h"
#include "kernel_env.h"

namespace {

using namespace flowattr::agent;

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};

struct Member {
    std::uint32_t bit_offset;
    long long size;  // bytes, or a negative errno when libbpf cannot size it
};

// Every named member of struct/union T, the members of anonymous struct/union members
// included (as C sees them), with its offset from the start of T.
void named_members(const btf* b, const btf_type* t, std::uint32_t base, std::map<std::string, Member>& out) {
    const btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
        const std::uint32_t off = base + btf_member_bit_offset(t, i);
        const std::string name = btf__name_by_offset(b, m->name_off);
        if (name.empty()) {
            const btf_type* inner = btf__type_by_id(b, btf__resolve_type(b, m->type));
            if (inner && btf_is_composite(inner)) named_members(b, inner, off, out);
            continue;
        }
        out[name] = {off, btf__resolve_size(b, m->type)};
    }
}

bool overlaps_any(const Member& m, const std::map<std::string, Member>& members) {
    const long long begin = m.bit_offset, end = begin + 8 * m.size;
    for (const auto& [name, o] : members)
        if (begin < o.bit_offset + 8 * o.size && o.bit_offset < end) return true;
    return false;
}

bool is_uapi_context(const std::string& name) {
    return (name.rfind("__", 0) == 0 || name.rfind("bpf_", 0) == 0) && name.rfind("bpf_iter__", 0) != 0;
}

TEST(VmlinuxHeader, TypesTheObjectsUseMatchThisKernelsBtf) {
    FA_REQUIRE_FILE("/sys/kernel/btf/vmlinux");
    std::unique_ptr<btf, BtfDeleter> kernel(btf__load_vmlinux_btf());
    ASSERT_TRUE(kernel) << "cannot read /sys/kernel/btf/vmlinux";
    int checked = 0;
    for (const EmbeddedObject& e : embedded_objects()) {
        BpfObject obj = open_bpf_object(e.name, {static_cast<const char*>(e.data), e.size});
        const btf* ours = bpf_object__btf(obj.get());
        ASSERT_NE(ours, nullptr) << e.name << " has no BTF";
        for (std::uint32_t id = 1; id < btf__type_cnt(ours); id++) {
            const btf_type* t = btf__type_by_id(ours, id);
            const std::string name = btf__name_by_offset(ours, t->name_off);
            // Anonymous types are checked through their parent; fa_* are this project's own
            // (bpf/include/flowattr.h), never the kernel's.
            if (!btf_is_composite(t) || name.empty() || name.rfind("fa_", 0) == 0) continue;
            SCOPED_TRACE(e.name + ": struct " + name);
            const int kid = btf__find_by_name_kind(kernel.get(), name.c_str(), btf_kind(t));
            if (kid <= 0) {
                ADD_FAILURE() << name << " is not in this kernel's BTF";
                continue;
            }
            std::map<std::string, Member> header, here;
            named_members(ours, t, 0, header);
            named_members(kernel.get(), btf__type_by_id(kernel.get(), kid), 0, here);
            const bool exact = is_uapi_context(name);
            for (const auto& [member, m] : header) {
                auto k = here.find(member);
                // A UAPI context only grows into its padding or at its end: a field a later
                // kernel added overlaps none of this kernel's (a program reading it is refused
                // here, at load).
                if (k == here.end() && exact && !overlaps_any(m, here)) continue;
                if (k == here.end()) {
                    ADD_FAILURE() << name << "." << member << " is not in this kernel's " << name;
                    continue;
                }
                if (!exact) continue;
                EXPECT_EQ(m.bit_offset, k->second.bit_offset) << name << "." << member << ": bit offset in the header vs the kernel";
                EXPECT_EQ(m.size, k->second.size) << name << "." << member << ": size in the header vs the kernel";
            }
            checked++;
        }
    }
    EXPECT_GE(checked, 10) << "the objects' BTF should carry the kernel structs they use";
    RecordProperty("types_checked", checked);
}

}  // namespace
