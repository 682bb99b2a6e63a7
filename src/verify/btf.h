#pragma once
// BTF as the kernel's BPF_BTF_LOAD sees it: a parser that repeats the per-kind checks of
// kernel/bpf/btf.c (btf_parse_hdr, btf_parse_str_sec, btf_check_all_metas,
// btf_check_all_types, btf_check_type_tags) and reports each rejection with the kernel's own
// verifier-log wording, so a finding here reads exactly like the log the kernel would print.
//
// The rules follow the current kernel (measured against 6.18 with BPF_BTF_LOAD): '.' is
// accepted in identifiers, DATASEC names may hold any printable character, ENUM may carry
// kind_flag (signedness). Which kinds older kernels lack is kernel_floor.h's business.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowattr::verify {

enum class BtfKind : std::uint8_t {
    Unknown = 0,
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
};
inline constexpr std::uint32_t kBtfKindMax = 19;

// "STRUCT", "ENUM64"... as btf_kind_str[] spells them; "UNKNOWN" outside the table.
const char* btf_kind_name(std::uint32_t kind);

inline constexpr std::uint16_t kBtfMagic = 0xeB9F;
inline constexpr std::uint32_t kBtfVarStatic = 0;
inline constexpr std::uint32_t kBtfVarGlobalAllocated = 1;
inline constexpr std::uint32_t kBtfVarGlobalExtern = 2;
inline constexpr std::uint32_t kBtfFuncGlobal = 1;
inline constexpr std::uint32_t kBtfFuncExtern = 2;

struct BtfHeader {
    std::uint16_t magic = 0;
    std::uint8_t version = 0;
    std::uint8_t flags = 0;
    std::uint32_t hdr_len = 0;
    std::uint32_t type_off = 0;
    std::uint32_t type_len = 0;
    std::uint32_t str_off = 0;
    std::uint32_t str_len = 0;
};

struct BtfMember {  // STRUCT/UNION member; FUNC_PROTO parameter (offset unused)
    std::uint32_t name_off = 0;
    std::uint32_t type = 0;
    std::uint32_t offset = 0;
};

struct BtfEnumerator {
    std::uint32_t name_off = 0;
    std::uint64_t value = 0;  // ENUM: the 32-bit value; ENUM64: hi << 32 | lo
};

struct BtfVarSecinfo {
    std::uint32_t type = 0;
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

// A type's members, enumerators or variables: a view into the pool its Btf keeps for all of
// them. Held per type in vectors of their own, a vmlinux BTF's 100,000-odd types cost as many
// allocations to read and to free, a third of checking it (KernelBtf tests, under TCG in
// every matrix VM).
template <typename T>
class BtfSpan {
public:
    BtfSpan() = default;
    BtfSpan(const T* data, std::size_t size) : data_(data), size_(size) {}
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    const T& back() const { return data_[size_ - 1]; }

private:
    const T* data_ = nullptr;
    std::size_t size_ = 0;
};

struct BtfType {
    std::uint32_t id = 0;
    std::uint64_t btf_offset = 0;  // where the record starts inside the BTF blob
    std::uint32_t name_off = 0;
    std::uint32_t info = 0;
    std::uint32_t size_or_type = 0;

    std::uint32_t int_data = 0;  // INT
    std::uint32_t array_type = 0, array_index_type = 0, array_nelems = 0;  // ARRAY
    BtfSpan<BtfMember> members;  // STRUCT, UNION, FUNC_PROTO
    BtfSpan<BtfEnumerator> enumerators;  // ENUM, ENUM64
    BtfSpan<BtfVarSecinfo> secinfos;  // DATASEC
    std::uint32_t var_linkage = 0;  // VAR
    std::int32_t component_idx = 0;  // DECL_TAG

    std::uint32_t kind_raw() const { return (info >> 24) & 0x1f; }
    BtfKind kind() const { return static_cast<BtfKind>(kind_raw()); }
    std::uint16_t vlen() const { return static_cast<std::uint16_t>(info & 0xffff); }
    bool kflag() const { return (info >> 31) != 0; }
    std::uint32_t size() const { return size_or_type; }
    std::uint32_t type() const { return size_or_type; }
};

// One rejection, worded as the kernel's verifier log prints it (one or two lines, '\n'
// between them, no trailing newline), plus where it is.
struct BtfFinding {
    std::uint32_t type_id = 0;  // 0 when the finding is about the header or string section
    std::uint64_t btf_offset = 0;  // byte offset inside the BTF blob of the offending record
    std::string log;
};

class Btf;

// The result of checking one BTF blob. `btf` is set whenever the blob could be split into
// types (even when some of them were rejected), so callers can still read map definitions.
struct BtfCheck {
    std::vector<BtfFinding> findings;
    std::shared_ptr<const Btf> btf;
    bool ok() const { return findings.empty(); }
};

// Checks DATA as BPF_BTF_LOAD would. BASE, when given, makes DATA split BTF on top of it
// (module BTF on vmlinux), numbered and string-offset after the base the way the kernel does.
// Never throws on malformed input: every problem is a finding.
BtfCheck check_btf(std::string_view data, std::shared_ptr<const Btf> base = nullptr);

class Btf {
public:
    Btf() = default;
    // Its types' spans point into its own pools: a copy would point into the original's.
    Btf(const Btf&) = delete;
    Btf& operator=(const Btf&) = delete;

    const BtfHeader& header() const { return header_; }
    const std::vector<BtfType>& types() const { return types_; }  // this blob's own types, in id order
    std::uint32_t start_id() const { return start_id_; }
    // Type ids valid for lookups: [1, end_id()); 0 is void.
    std::uint32_t end_id() const { return start_id_ + static_cast<std::uint32_t>(types_.size()); }
    // nullptr for void (0) and ids past the end; walks into the base for split BTF.
    const BtfType* type_by_id(std::uint32_t id) const;
    // The string at OFFSET, or nullopt when OFFSET is outside the string sections.
    std::optional<std::string_view> string_at(std::uint32_t offset) const;
    // "(anon)" for 0 and "(invalid-name-offset)" for a bad offset, as the kernel logs names.
    std::string log_name(std::uint32_t offset) const;
    // The name or "" — for reports, not logs.
    std::string name(std::uint32_t offset) const;

private:
    friend class BtfChecker;
    BtfHeader header_;
    std::string data_;
    std::shared_ptr<const Btf> base_;
    std::uint32_t start_id_ = 1;
    std::uint32_t start_str_off_ = 0;
    std::vector<BtfType> types_;
    // Every type's members, enumerators and variables, in type order; reserved for the most
    // the type section can hold before it is read, so the spans into them stay valid.
    std::vector<BtfMember> members_;
    std::vector<BtfEnumerator> enumerators_;
    std::vector<BtfVarSecinfo> secinfos_;
};

}  // namespace flowattr::verify
