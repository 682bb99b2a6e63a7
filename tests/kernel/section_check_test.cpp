// The kernel's view of every embedded program, one test per program: loaded alone, its
// program type must be the one libbpf derived from its section name, and attached the way
// the agent attaches it, the link's type and attach type must be the ones the section
// promises. This is where a section that leaves expected_attach_type unset, or a libbpf
// that maps a name differently, shows up on a real kernel rather than as EINVAL in the
// field. Programs the agent leaves out on this kernel (no TCX, no bpf_sock_from_file, LSM
// refused by policy) skip, saying why.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "agent/embedded_objects.h"
#include "agent/libbpf_support.h"
#include "agent/probe.h"
#include "agent/task_sockets.h"
#include "kernel_env.h"
#include "scratch_cgroup.h"

namespace {

using namespace flowattr::agent;

// Link types and TCX fields newer than the build host's UAPI header (Linux 6.1).
constexpr std::uint32_t kLinkTypeTcx = 11;

struct ProgramRef {
    std::string object, program, section;
};

// gtest and CTest show the parameter: name it rather than dump its bytes.
void PrintTo(const ProgramRef& r, std::ostream* os) { *os << r.object << "/" << r.program << " SEC(\"" << r.section << "\")"; }

flowattr::agent::BpfObject open_object(const EmbeddedObject& o) {
    return flowattr::agent::open_bpf_object(o.name, std::string_view(static_cast<const char*>(o.data), o.size));
}

std::vector<ProgramRef> embedded_programs() {
    std::vector<ProgramRef> out;
    LibbpfLogCapture quiet;
    for (const auto& o : embedded_objects()) {
        flowattr::agent::BpfObject obj = open_object(o);
        bpf_program* p;
        if (obj)
            bpf_object__for_each_program(p, obj.get()) out.push_back({o.name, bpf_program__name(p), bpf_program__section_name(p)});
    }
    return out;
}

const EmbeddedObject* find_object(const std::string& name) {
    for (const auto& o : embedded_objects())
        if (o.name == name) return &o;
    return nullptr;
}

bpf_link_info link_info(const bpf_link* link) {
    bpf_link_info info{};
    std::uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_link_get_info_by_fd(bpf_link__fd(link), &info, &len), 0) << std::strerror(errno);
    return info;
}

// tcx.{ifindex, attach_type} open the link-type union, which the 6.1 header lacks.
std::uint32_t tcx_attach_type(const bpf_link_info& info) {
    std::uint32_t fields[2];
    std::memcpy(fields, reinterpret_cast<const char*>(&info) + offsetof(bpf_link_info, raw_tracepoint), sizeof(fields));
    return fields[1];
}

class SectionCheck : public ::testing::TestWithParam<ProgramRef> {};

TEST_P(SectionCheck, KernelAgreesWithTheSection) {
    FA_REQUIRE_ROOT();
    const ProgramRef& ref = GetParam();
    RecordProperty("section", ref.section);
    const EmbeddedObject* object = find_object(ref.object);
    ASSERT_NE(object, nullptr);
    flowattr::agent::BpfObject obj = open_object(*object);
    ASSERT_TRUE(obj) << "cannot open embedded object " << ref.object;
    bpf_program* prog = bpf_object__find_program_by_name(obj.get(), ref.program.c_str());
    ASSERT_NE(prog, nullptr);
    bpf_program* p;
    bpf_object__for_each_program(p, obj.get()) bpf_program__set_autoload(p, p == prog);
    const bpf_prog_type type = bpf_program__type(prog);
    const bpf_attach_type expected = bpf_program__expected_attach_type(prog);

    const KernelFeatures& features = fa::test::kernel_features();
    bool tcx = ref.section.rfind("tcx/", 0) == 0;
    if (tcx && !features.has("tcx")) GTEST_SKIP() << "no TCX on this kernel (" << features.find("tcx")->detail << ")";
    if (ref.section == "iter/task_file" && !features.has(kFeatureTaskWalk))
        GTEST_SKIP() << "no task walk on this kernel (" << features.find(kFeatureTaskWalk)->detail
                     << "): the agent walks /proc instead";

    LibbpfLogCapture log;
    int err = bpf_object__load(obj.get());
    if (err == -EPERM && type == BPF_PROG_TYPE_LSM && !features.has("prog.lsm"))
        GTEST_SKIP() << "LSM programs refused with EPERM by this kernel's policy (sandboxed host)";
    ASSERT_EQ(err, 0) << ref.object << "/" << ref.program << " does not load: " << std::strerror(-err) << "\n"
                      << log.text();

    bpf_prog_info info{};
    std::uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &len), 0) << std::strerror(errno);
    EXPECT_EQ(info.type, std::uint32_t(type)) << "the kernel loaded section \"" << ref.section
                                              << "\" as another program type";

    // Attach it the way the agent does and read the link back.
    std::unique_ptr<fa::test::ScratchCgroup> cgroup;  // outlives the link
    BpfLink link;
    std::uint32_t want_link = 0;
    if (type == BPF_PROG_TYPE_SCHED_CLS && !tcx) {
        // "tc": attached with a netlink clsact filter, which has no link and needs no
        // expected_attach_type; the section must not promise one.
        EXPECT_EQ(expected, 0) << "section \"" << ref.section << "\"";
        RecordProperty("attach", "clsact filter (no link)");
        return;
    } else if (tcx) {
        link.reset(bpf_program__attach_tcx(prog, int(if_nametoindex("lo")), nullptr));
        want_link = kLinkTypeTcx;
    } else if (type == BPF_PROG_TYPE_CGROUP_SKB || type == BPF_PROG_TYPE_CGROUP_SOCK) {
        std::string root = find_cgroup2_mount();
        if (root.empty()) GTEST_SKIP() << "needs a cgroup v2 mount";
        cgroup = std::make_unique<fa::test::ScratchCgroup>(root);
        ASSERT_TRUE(cgroup->ok()) << "cannot create " << cgroup->path();
        flowattr::UniqueFd dir(open(cgroup->path().c_str(), O_RDONLY | O_DIRECTORY));
        link.reset(bpf_program__attach_cgroup(prog, dir.get()));
        want_link = BPF_LINK_TYPE_CGROUP;
    } else if (type == BPF_PROG_TYPE_LSM) {
        // Loading already proved the section's attach type; attaching needs a trampoline.
        if (!features.has("link.lsm"))
            GTEST_SKIP() << "loads with the section's attach type; LSM programs do not attach here: "
                         << features.find("link.lsm")->detail;
        link.reset(bpf_program__attach_lsm(prog));
        want_link = BPF_LINK_TYPE_TRACING;
    } else if (type == BPF_PROG_TYPE_TRACING && expected == BPF_TRACE_ITER) {
        link.reset(bpf_program__attach_iter(prog, nullptr));
        want_link = BPF_LINK_TYPE_ITER;
    } else {
        FAIL() << "no attach rule for section \"" << ref.section << "\" (type " << type << "): add one here";
    }
    ASSERT_TRUE(link) << "attach failed: " << std::strerror(errno) << "\n" << log.text();
    bpf_link_info li = link_info(link.get());
    EXPECT_EQ(li.type, want_link);
    EXPECT_EQ(li.prog_id, info.id);
    if (want_link == kLinkTypeTcx) {
        EXPECT_EQ(tcx_attach_type(li), std::uint32_t(expected));
    } else if (want_link == BPF_LINK_TYPE_CGROUP) {
        EXPECT_EQ(li.cgroup.attach_type, std::uint32_t(expected));
    } else if (want_link == BPF_LINK_TYPE_TRACING) {
        EXPECT_EQ(li.tracing.attach_type, std::uint32_t(expected));
        EXPECT_EQ(expected, BPF_LSM_MAC);
    } else if (want_link == BPF_LINK_TYPE_ITER) {
        char target[32] = "";
        li = {};
        li.iter.target_name = reinterpret_cast<std::uint64_t>(target);
        li.iter.target_name_len = sizeof(target);
        std::uint32_t ilen = sizeof(li);
        ASSERT_EQ(bpf_link_get_info_by_fd(bpf_link__fd(link.get()), &li, &ilen), 0) << std::strerror(errno);
        EXPECT_EQ(ref.section, std::string("iter/") + target);
    }
    RecordProperty("attach", "link type " + std::to_string(li.type) + ", attach type " + std::to_string(expected));
}

INSTANTIATE_TEST_SUITE_P(Embedded, SectionCheck, ::testing::ValuesIn(embedded_programs()),
                         [](const ::testing::TestParamInfo<ProgramRef>& info) {
                             return info.param.object + "_" + info.param.program;
                         });

}  // namespace
