#include "verify/btf.h"

#include <algorithm>
#include <cstdio>

#include "verify/byte_reader.h"

namespace flowattr::verify {

namespace {

// Limits and masks from kernel/bpf/btf.c and include/uapi/linux/btf.h.
constexpr std::uint32_t kInfoMask = 0x9f00ffff;
constexpr std::uint32_t kIntMask = 0x0fffffff;
constexpr std::uint32_t kMaxType = 0x000fffff;
constexpr std::uint32_t kMaxNameOffset = 0x00ffffff;
constexpr std::uint32_t kBitsPerU128 = 128;
constexpr std::uint32_t kMaxResolveDepth = 32;
constexpr std::size_t kKsymNameLen = 512;
constexpr std::uint32_t kHeaderSize = 24;
constexpr std::uint32_t kTypeRecordSize = 12;
constexpr std::uint32_t kIntSigned = 1, kIntChar = 2, kIntBool = 4;
constexpr std::uint32_t kU32Max = 0xffffffffu;

constexpr const char* kKindNames[] = {"UNKNOWN", "INT",   "PTR",      "ARRAY",      "STRUCT", "UNION",   "ENUM",
                                      "FWD",     "TYPEDEF", "VOLATILE", "CONST",     "RESTRICT", "FUNC", "FUNC_PROTO",
                                      "VAR",     "DATASEC", "FLOAT",    "DECL_TAG",   "TYPE_TAG", "ENUM64"};

std::uint32_t int_encoding(std::uint32_t d) { return (d & 0x0f000000) >> 24; }
std::uint32_t int_offset(std::uint32_t d) { return (d & 0x00ff0000) >> 16; }
std::uint32_t int_bits(std::uint32_t d) { return d & 0x000000ff; }
std::uint32_t bits_roundup_bytes(std::uint64_t bits) { return std::uint32_t((bits >> 3) + ((bits & 7) != 0)); }
std::uint32_t member_bitfield_size(std::uint32_t offset) { return offset >> 24; }
std::uint32_t member_bit_offset(std::uint32_t offset) { return offset & 0xffffff; }
bool id_in_range(std::uint32_t id) { return id <= kMaxType; }

// The kernel's <linux/ctype.h> classifies Latin-1 too (lib/ctype.c), so a name byte of 0xe9
// is a letter to it; these follow that table rather than the C locale.
bool k_isalpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xc0 && c != 0xd7 && c != 0xf7);
}
bool k_isdigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool k_isprint(unsigned char c) { return (c >= 0x20 && c < 0x7f) || c >= 0xa0; }

bool is_power_of_2(std::uint32_t n) { return n != 0 && (n & (n - 1)) == 0; }

std::string hex_no_prefix(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", v);
    return buf;
}

}  // namespace

const char* btf_kind_name(std::uint32_t kind) { return kind <= kBtfKindMax ? kKindNames[kind] : "UNKNOWN"; }

const BtfType* Btf::type_by_id(std::uint32_t id) const {
    if (id < start_id_) return base_ ? base_->type_by_id(id) : nullptr;
    const std::uint64_t local = id - start_id_;
    return local < types_.size() ? &types_[local] : nullptr;
}

std::optional<std::string_view> Btf::string_at(std::uint32_t offset) const {
    if (offset < start_str_off_) return base_ ? base_->string_at(offset) : std::nullopt;
    const std::uint64_t local = offset - start_str_off_;
    if (local >= header_.str_len) return std::nullopt;
    // check_btf only keeps a Btf whose string section ends in NUL, so find() succeeds.
    const std::string_view strings = std::string_view(data_).substr(header_.hdr_len + header_.str_off, header_.str_len);
    const std::size_t end = strings.find('\0', local);
    return strings.substr(local, end - local);
}

std::string Btf::log_name(std::uint32_t offset) const {
    if (offset == 0) return "(anon)";
    const auto s = string_at(offset);
    return s ? std::string(*s) : "(invalid-name-offset)";
}

std::string Btf::name(std::uint32_t offset) const {
    const auto s = string_at(offset);
    return s ? std::string(*s) : std::string();
}

// One run of the kernel's checks over one blob. Mirrors btf_parse(): header, string section,
// per-type meta checks, then resolution of every type that refers to others, then the
// type-tag ordering rule. The kernel stops at its first error; so does each phase here,
// except the meta phase, which keeps going because each record's checks are independent once
// its size is known — so one run reports every malformed record, the first exactly as the
// kernel would.
class BtfChecker {
public:
    BtfChecker(std::string_view data, std::shared_ptr<const Btf> base) : btf_(std::make_shared<Btf>()) {
        btf_->data_ = std::string(data);
        btf_->base_ = std::move(base);
        if (btf_->base_) {
            btf_->start_id_ = btf_->base_->end_id();
            btf_->start_str_off_ = btf_->base_->start_str_off_ + btf_->base_->header_.str_len;
        }
    }

    BtfCheck run() {
        BtfCheck out;
        if (!parse_header() || !parse_strings()) {
            out.findings = std::move(findings_);
            return out;
        }
        const bool metas_ok = check_all_metas();
        out.btf = btf_;
        // Kernel-built (split) BTF is never resolved by the kernel either (btf_parse_module).
        if (metas_ok && !btf_->base_ && check_all_types()) check_type_tags();
        out.findings = std::move(findings_);
        return out;
    }

private:
    enum : std::uint8_t { kNotVisited, kVisited, kResolved };
    enum class Mode { Tbd, Ptr, StructOrArray };
    enum Err { kOk = 0, kInval, kTooBig, kExists };
    struct Vertex {
        const BtfType* t;
        std::uint32_t id;
        std::uint16_t next_member;
    };

    // The kernel's struct btf_kind_operations: each kind's checks, one row per kind as
    // kind_ops[] in kernel/bpf/btf.c has them, so the two read side by side (the df_ entries
    // are its btf_df_* defaults: what a kind never needs).
    using MemberCheck = Err (BtfChecker::*)(std::uint32_t, const BtfType&, const BtfMember&, const BtfType*);
    struct KindOps {
        bool (BtfChecker::*check_meta)(const BtfType&);
        Err (BtfChecker::*resolve)(Vertex&);
        MemberCheck check_member;
        MemberCheck check_kflag_member;
    };

    static const KindOps& kind_ops(BtfKind kind) {
        using C = BtfChecker;
        static const KindOps int_ops{&C::int_check_meta, &C::df_resolve, &C::int_check_member, &C::int_check_kflag_member};
        static const KindOps ptr_ops{&C::ref_type_check_meta, &C::ptr_resolve, &C::ptr_check_member,
                                     &C::generic_check_kflag_member};
        static const KindOps array_ops{&C::array_check_meta, &C::array_resolve, &C::array_check_member,
                                       &C::generic_check_kflag_member};
        static const KindOps struct_ops{&C::struct_check_meta, &C::struct_resolve, &C::struct_check_member,
                                        &C::generic_check_kflag_member};
        // btf_enum_check_member is btf_struct_check_member's check.
        static const KindOps enum_ops{&C::enum_check_meta, &C::df_resolve, &C::struct_check_member,
                                      &C::enum_check_kflag_member};
        static const KindOps fwd_ops{&C::fwd_check_meta, &C::df_resolve, &C::df_check_member, &C::df_check_kflag_member};
        static const KindOps modifier_ops{&C::ref_type_check_meta, &C::modifier_resolve, &C::modifier_check_member,
                                          &C::modifier_check_member};
        static const KindOps func_ops{&C::func_check_meta, &C::func_resolve, &C::df_check_member,
                                      &C::df_check_kflag_member};
        static const KindOps func_proto_ops{&C::func_proto_check_meta, &C::df_resolve, &C::df_check_member,
                                            &C::df_check_kflag_member};
        static const KindOps var_ops{&C::var_check_meta, &C::var_resolve, &C::df_check_member, &C::df_check_kflag_member};
        static const KindOps datasec_ops{&C::datasec_check_meta, &C::datasec_resolve, &C::df_check_member,
                                         &C::df_check_kflag_member};
        static const KindOps float_ops{&C::float_check_meta, &C::df_resolve, &C::float_check_member,
                                       &C::generic_check_kflag_member};
        static const KindOps decl_tag_ops{&C::decl_tag_check_meta, &C::decl_tag_resolve, &C::df_check_member,
                                          &C::df_check_kflag_member};
        // Kind 0 and kinds past BTF_KIND_MAX never get here: check_all_metas refuses them first.
        static const KindOps* const table[kBtfKindMax + 1] = {
            &fwd_ops,       // (no kind 0)
            &int_ops,       // BTF_KIND_INT
            &ptr_ops,       // BTF_KIND_PTR
            &array_ops,     // BTF_KIND_ARRAY
            &struct_ops,    // BTF_KIND_STRUCT
            &struct_ops,    // BTF_KIND_UNION
            &enum_ops,      // BTF_KIND_ENUM
            &fwd_ops,       // BTF_KIND_FWD
            &modifier_ops,  // BTF_KIND_TYPEDEF
            &modifier_ops,  // BTF_KIND_VOLATILE
            &modifier_ops,  // BTF_KIND_CONST
            &modifier_ops,  // BTF_KIND_RESTRICT
            &func_ops,      // BTF_KIND_FUNC
            &func_proto_ops,  // BTF_KIND_FUNC_PROTO
            &var_ops,       // BTF_KIND_VAR
            &datasec_ops,   // BTF_KIND_DATASEC
            &float_ops,     // BTF_KIND_FLOAT
            &decl_tag_ops,  // BTF_KIND_DECL_TAG
            &modifier_ops,  // BTF_KIND_TYPE_TAG
            &enum_ops,      // BTF_KIND_ENUM64
        };
        const auto k = static_cast<std::size_t>(kind);
        return *table[k <= kBtfKindMax ? k : 0];
    }

    // ---- logging, with the kernel's format strings ----

    void add(std::uint32_t id, std::uint64_t offset, std::string log) {
        findings_.push_back(BtfFinding{id, offset, std::move(log)});
    }

    std::string details(const BtfType& t) const {
        switch (t.kind()) {
        case BtfKind::Int: {
            const std::uint32_t enc = int_encoding(t.int_data);
            const char* enc_str = enc == 0 ? "(none)"
                                  : enc == kIntSigned ? "SIGNED"
                                  : enc == kIntChar   ? "CHAR"
                                  : enc == kIntBool   ? "BOOL"
                                                      : "UNKN";
            return "size=" + std::to_string(t.size()) + " bits_offset=" + std::to_string(int_offset(t.int_data)) +
                   " nr_bits=" + std::to_string(int_bits(t.int_data)) + " encoding=" + enc_str;
        }
        case BtfKind::Ptr:
        case BtfKind::Typedef:
        case BtfKind::Volatile:
        case BtfKind::Const:
        case BtfKind::Restrict:
        case BtfKind::TypeTag:
        case BtfKind::Func:
            return "type_id=" + std::to_string(t.type());
        case BtfKind::Array:
            return "type_id=" + std::to_string(t.array_type) + " index_type_id=" + std::to_string(t.array_index_type) +
                   " nr_elems=" + std::to_string(t.array_nelems);
        case BtfKind::Struct:
        case BtfKind::Union:
        case BtfKind::Enum:
        case BtfKind::Enum64:
        case BtfKind::Datasec:
            return "size=" + std::to_string(t.size()) + " vlen=" + std::to_string(t.vlen());
        case BtfKind::Fwd:
            return t.kflag() ? "union" : "struct";
        case BtfKind::FuncProto: {
            std::string s = "return=" + std::to_string(t.type()) + " args=(";
            const auto& a = t.members;
            if (a.empty()) {
                s += "void";
            } else if (a.size() == 1 && a[0].type == 0) {
                s += "vararg";
            } else {
                s += std::to_string(a[0].type) + " " + btf_->log_name(a[0].name_off);
                for (std::size_t i = 1; i + 1 < a.size(); i++)
                    s += ", " + std::to_string(a[i].type) + " " + btf_->log_name(a[i].name_off);
                if (a.size() > 1) {
                    const auto& last = a.back();
                    s += last.type ? ", " + std::to_string(last.type) + " " + btf_->log_name(last.name_off)
                                   : std::string(", vararg");
                }
            }
            return s + ")";
        }
        case BtfKind::Var:
            return "type_id=" + std::to_string(t.type()) + " linkage=" + std::to_string(t.var_linkage);
        case BtfKind::Float:
            return "size=" + std::to_string(t.size());
        case BtfKind::DeclTag:
            return "type=" + std::to_string(t.type()) + " component_idx=" + std::to_string(t.component_idx);
        default:
            return {};
        }
    }

    // btf_verifier_log_type (with_details) / btf_verifier_log_basic.
    std::string type_line(std::uint32_t id, const BtfType& t, bool with_details, const std::string& msg) const {
        std::string s = "[" + std::to_string(id) + "] " + btf_kind_name(t.kind_raw()) + " " + btf_->log_name(t.name_off);
        if (with_details) s += " " + details(t);
        if (!msg.empty()) s += " " + msg;
        return s;
    }
    void log_type(std::uint32_t id, const BtfType& t, const std::string& msg) {
        add(id, t.btf_offset, type_line(id, t, true, msg));
    }
    void log_basic(std::uint32_t id, const BtfType& t, const std::string& msg) {
        add(id, t.btf_offset, type_line(id, t, false, msg));
    }
    // btf_verifier_log_member: the struct's line, then the member's.
    void log_member(std::uint32_t id, const BtfType& s, const BtfMember& m, const std::string& msg) {
        std::string line = "\t" + btf_->log_name(m.name_off) + " type_id=" + std::to_string(m.type);
        if (s.kflag())
            line += " bitfield_size=" + std::to_string(member_bitfield_size(m.offset)) +
                    " bits_offset=" + std::to_string(member_bit_offset(m.offset));
        else
            line += " bits_offset=" + std::to_string(m.offset);
        add(id, s.btf_offset, type_line(id, s, true, "") + "\n" + line + " " + msg);
    }
    void log_vsi(std::uint32_t id, const BtfType& d, const BtfVarSecinfo& v, const std::string& msg) {
        add(id, d.btf_offset,
            type_line(id, d, true, "") + "\n\t type_id=" + std::to_string(v.type) + " offset=" +
                std::to_string(v.offset) + " size=" + std::to_string(v.size) + " " + msg);
    }
    void log_plain(std::uint32_t id, std::uint64_t offset, const std::string& msg) { add(id, offset, msg); }

    // ---- header and strings (btf_parse_hdr, btf_check_sec_info, btf_parse_str_sec) ----

    bool parse_header() {
        const std::string_view d = btf_->data_;
        const std::uint64_t size = d.size();
        if (size < 8) return log_plain(0, 0, "hdr_len not found"), false;
        const std::uint32_t hdr_len = load_le32(d, 4);
        if (size < hdr_len) return log_plain(0, 4, "btf_header not found"), false;
        for (std::uint64_t i = kHeaderSize; i < hdr_len; i++)
            if (d[i]) return log_plain(0, i, "Unsupported btf_header"), false;
        // Fields beyond a short hdr_len read as zero, as the kernel's partial memcpy leaves them.
        char raw[kHeaderSize] = {};
        std::copy_n(d.data(), std::min<std::uint32_t>(hdr_len, kHeaderSize), raw);
        const std::string_view h(raw, kHeaderSize);
        BtfHeader& hdr = btf_->header_;
        hdr.magic = load_le16(h, 0);
        hdr.version = std::uint8_t(h[2]);
        hdr.flags = std::uint8_t(h[3]);
        hdr.hdr_len = load_le32(h, 4);
        hdr.type_off = load_le32(h, 8);
        hdr.type_len = load_le32(h, 12);
        hdr.str_off = load_le32(h, 16);
        hdr.str_len = load_le32(h, 20);
        if (hdr.magic != kBtfMagic) return log_plain(0, 0, "Invalid magic"), false;
        if (hdr.version != 1) return log_plain(0, 2, "Unsupported version"), false;
        if (hdr.flags) return log_plain(0, 3, "Unsupported flags"), false;
        if (!btf_->base_ && size == hdr.hdr_len) return log_plain(0, 4, "No data"), false;
        return check_sec_info(size);
    }

    bool check_sec_info(std::uint64_t size) {
        const BtfHeader& hdr = btf_->header_;
        struct Sec {
            std::uint32_t off, len;
            std::uint64_t field;  // header offset of the *_off field, for the finding
        };
        Sec secs[2] = {{hdr.type_off, hdr.type_len, 8}, {hdr.str_off, hdr.str_len, 16}};
        // Same order as the kernel's sort(): by offset, then length, compared as ints.
        if (int(secs[1].off - secs[0].off) < 0 ||
            (secs[1].off == secs[0].off && int(secs[1].len - secs[0].len) < 0))
            std::swap(secs[0], secs[1]);
        const std::uint32_t expected_total = std::uint32_t(size - hdr.hdr_len);
        std::uint32_t total = 0;
        for (const Sec& s : secs) {
            if (expected_total < s.off) return log_plain(0, s.field, "Invalid section offset"), false;
            if (total < s.off) return log_plain(0, s.field, "Unsupported section found"), false;
            if (total > s.off) return log_plain(0, s.field, "Section overlap found"), false;
            if (expected_total - total < s.len) return log_plain(0, s.field + 4, "Total section length too long"), false;
            total += s.len;
        }
        if (expected_total != total) return log_plain(0, hdr.hdr_len + total, "Unsupported section found"), false;
        return true;
    }

    bool parse_strings() {
        const BtfHeader& hdr = btf_->header_;
        const std::string_view d = btf_->data_;
        const std::uint64_t start = std::uint64_t(hdr.hdr_len) + hdr.str_off;
        if (start + hdr.str_len != d.size()) return log_plain(0, start, "String section is not at the end"), false;
        if (btf_->base_ && hdr.str_len == 0) return true;
        if (hdr.str_len == 0 || hdr.str_len - 1 > kMaxNameOffset || d[start + hdr.str_len - 1] != '\0')
            return log_plain(0, start + (hdr.str_len ? hdr.str_len - 1 : 0), "Invalid string section"), false;
        if (!btf_->base_ && d[start] != '\0') return log_plain(0, start, "Invalid string section"), false;
        return true;
    }

    // ---- names ----

    // btf_name_offset_valid: inside this blob's (or, below start_str_off, the base's) strings.
    bool name_offset_valid(std::uint32_t off) const {
        return off <= kMaxNameOffset && btf_->string_at(off).has_value();
    }
    // btf_name_valid_identifier: letter, '_' or '.', then alnum, '_' or '.', shorter than KSYM_NAME_LEN.
    bool valid_identifier(std::uint32_t off) const {
        const auto s = btf_->string_at(off);
        if (!s || s->empty()) return false;
        const auto ok = [](unsigned char c, bool first) {
            return (first ? k_isalpha(c) : (k_isalpha(c) || k_isdigit(c))) || c == '_' || c == '.';
        };
        if (!ok((*s)[0], true)) return false;
        std::size_t i = 1;
        for (; i < kKsymNameLen && i < s->size(); i++)
            if (!ok((*s)[i], false)) return false;
        return i == s->size();
    }
    // btf_name_valid_section: any printable character.
    bool valid_section_name(std::uint32_t off) const {
        const auto s = btf_->string_at(off);
        if (!s || s->empty()) return false;
        std::size_t i = 0;
        for (; i < kKsymNameLen && i < s->size(); i++)
            if (!k_isprint((*s)[i])) return false;
        return i == s->size();
    }

    // ---- meta phase (btf_check_all_metas) ----

    bool check_all_metas() {
        const BtfHeader& hdr = btf_->header_;
        if (hdr.type_off & 3) return log_plain(0, 8, "Unaligned type_off"), false;
        if (!btf_->base_ && hdr.type_len == 0) return log_plain(0, 12, "No type found"), false;
        const std::string_view d = btf_->data_;
        const std::uint64_t begin = std::uint64_t(hdr.hdr_len) + hdr.type_off;
        const std::uint64_t end = begin + hdr.type_len;
        std::uint32_t id = btf_->start_id_;
        bool ok = true;
        // The most each pool can get: a member, enumerator or variable takes 8 bytes or more of
        // the type section, and each type record 12.
        btf_->types_.reserve(hdr.type_len / kTypeRecordSize);
        btf_->members_.reserve(hdr.type_len / 8);
        btf_->enumerators_.reserve(hdr.type_len / 8);
        btf_->secinfos_.reserve(hdr.type_len / 12);
        for (std::uint64_t cur = begin; cur < end; id++) {
            const std::uint64_t left = end - cur;
            if (left < kTypeRecordSize) {
                log_plain(id, cur, "[" + std::to_string(id) + "] meta_left:" + std::to_string(left) +
                                       " meta_needed:" + std::to_string(kTypeRecordSize));
                return false;
            }
            BtfType t;
            t.id = id;
            t.btf_offset = cur;
            t.name_off = load_le32(d, cur);
            t.info = load_le32(d, cur + 4);
            t.size_or_type = load_le32(d, cur + 8);
            if (t.info & ~kInfoMask) {
                log_plain(id, cur, "[" + std::to_string(id) + "] Invalid btf_info:" + hex_no_prefix(t.info));
                return false;
            }
            if (t.kind_raw() > kBtfKindMax || t.kind_raw() == 0) {
                log_plain(id, cur, "[" + std::to_string(id) + "] Invalid kind:" + std::to_string(t.kind_raw()));
                return false;
            }
            if (!name_offset_valid(t.name_off)) {
                log_plain(id, cur, "[" + std::to_string(id) + "] Invalid name_offset:" + std::to_string(t.name_off));
                return false;
            }
            const std::uint64_t extra = extra_size(t);
            if (left - kTypeRecordSize < extra) {
                log_basic(id, t, "meta_left:" + std::to_string(left - kTypeRecordSize) +
                                     " meta_needed:" + std::to_string(extra));
                return false;
            }
            read_extra(t, cur + kTypeRecordSize);
            if (!(this->*kind_ops(t.kind()).check_meta)(t)) ok = false;
            btf_->types_.push_back(std::move(t));
            cur += kTypeRecordSize + extra;
        }
        return ok;
    }

    static std::uint64_t extra_size(const BtfType& t) {
        switch (t.kind()) {
        case BtfKind::Int:
        case BtfKind::Var:
        case BtfKind::DeclTag:
            return 4;
        case BtfKind::Array:
            return 12;
        case BtfKind::Struct:
        case BtfKind::Union:
        case BtfKind::Datasec:
        case BtfKind::Enum64:
            return std::uint64_t(t.vlen()) * 12;
        case BtfKind::Enum:
        case BtfKind::FuncProto:
            return std::uint64_t(t.vlen()) * 8;
        default:
            return 0;
        }
    }

    // Appends to a pool reserved for the whole type section (check_all_metas): no reallocation
    // moves what earlier types' spans point to.
    template <typename T>
    static BtfSpan<T> pool_span(const std::vector<T>& pool, std::size_t first) {
        return BtfSpan<T>(pool.data() + first, pool.size() - first);
    }

    void read_extra(BtfType& t, std::uint64_t at) const {
        const std::string_view d = btf_->data_;
        auto& members = btf_->members_;
        auto& enumerators = btf_->enumerators_;
        auto& secinfos = btf_->secinfos_;
        const std::size_t first_member = members.size(), first_enumerator = enumerators.size(),
                          first_secinfo = secinfos.size();
        switch (t.kind()) {
        case BtfKind::Int:
            t.int_data = load_le32(d, at);
            break;
        case BtfKind::Var:
            t.var_linkage = load_le32(d, at);
            break;
        case BtfKind::DeclTag:
            t.component_idx = static_cast<std::int32_t>(load_le32(d, at));
            break;
        case BtfKind::Array:
            t.array_type = load_le32(d, at);
            t.array_index_type = load_le32(d, at + 4);
            t.array_nelems = load_le32(d, at + 8);
            break;
        case BtfKind::Struct:
        case BtfKind::Union:
            for (std::uint32_t i = 0; i < t.vlen(); i++, at += 12)
                members.push_back({load_le32(d, at), load_le32(d, at + 4), load_le32(d, at + 8)});
            t.members = pool_span(members, first_member);
            break;
        case BtfKind::FuncProto:
            for (std::uint32_t i = 0; i < t.vlen(); i++, at += 8)
                members.push_back({load_le32(d, at), load_le32(d, at + 4), 0});
            t.members = pool_span(members, first_member);
            break;
        case BtfKind::Enum:
            for (std::uint32_t i = 0; i < t.vlen(); i++, at += 8)
                enumerators.push_back({load_le32(d, at), load_le32(d, at + 4)});
            t.enumerators = pool_span(enumerators, first_enumerator);
            break;
        case BtfKind::Enum64:
            for (std::uint32_t i = 0; i < t.vlen(); i++, at += 12)
                enumerators.push_back(
                    {load_le32(d, at), std::uint64_t(load_le32(d, at + 8)) << 32 | load_le32(d, at + 4)});
            t.enumerators = pool_span(enumerators, first_enumerator);
            break;
        case BtfKind::Datasec:
            for (std::uint32_t i = 0; i < t.vlen(); i++, at += 12)
                secinfos.push_back({load_le32(d, at), load_le32(d, at + 4), load_le32(d, at + 8)});
            t.secinfos = pool_span(secinfos, first_secinfo);
            break;
        default:
            break;
        }
    }

    // ---- each kind's check_meta: false after logging the kernel's message ----

    bool int_check_meta(const BtfType& t) {  // btf_int_check_meta
        const std::uint32_t id = t.id;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (t.int_data & ~kIntMask) return log_basic(id, t, "Invalid int_data:" + hex_no_prefix(t.int_data)), false;
        const std::uint32_t nr_bits = int_bits(t.int_data) + int_offset(t.int_data);
        if (nr_bits > kBitsPerU128) return log_type(id, t, "nr_bits exceeds " + std::to_string(kBitsPerU128)), false;
        if (bits_roundup_bytes(nr_bits) > t.size()) return log_type(id, t, "nr_bits exceeds type_size"), false;
        const std::uint32_t enc = int_encoding(t.int_data);
        if (enc && enc != kIntSigned && enc != kIntChar && enc != kIntBool)
            return log_type(id, t, "Unsupported encoding"), false;
        return true;
    }

    bool ref_type_check_meta(const BtfType& t) {  // btf_ref_type_check_meta: PTR and the modifiers
        const std::uint32_t id = t.id;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        // kind_flag on TYPE_TAG marks an attribute tag (accepted since early 2025 kernels).
        if (t.kflag() && t.kind() != BtfKind::TypeTag) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (!id_in_range(t.type())) return log_type(id, t, "Invalid type_id"), false;
        if (t.kind() == BtfKind::Typedef) {
            if (!t.name_off || !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        } else if (t.kind() == BtfKind::TypeTag) {
            const auto v = btf_->string_at(t.name_off);
            if (!v || v->empty()) return log_type(id, t, "Invalid name"), false;
        } else if (t.name_off) {
            return log_type(id, t, "Invalid name"), false;
        }
        return true;
    }

    bool fwd_check_meta(const BtfType& t) {  // btf_fwd_check_meta
        const std::uint32_t id = t.id;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        if (t.type()) return log_type(id, t, "type != 0"), false;
        if (!t.name_off || !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        return true;
    }

    bool array_check_meta(const BtfType& t) {  // btf_array_check_meta
        const std::uint32_t id = t.id;
        if (t.name_off) return log_type(id, t, "Invalid name"), false;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (t.size()) return log_type(id, t, "size != 0"), false;
        if (!t.array_type || !id_in_range(t.array_type)) return log_type(id, t, "Invalid elem"), false;
        if (!t.array_index_type || !id_in_range(t.array_index_type)) return log_type(id, t, "Invalid index"), false;
        return true;
    }

    bool struct_check_meta(const BtfType& t) {  // btf_struct_check_meta: STRUCT and UNION
        const std::uint32_t id = t.id;
        const bool is_union = t.kind() == BtfKind::Union;
        if (t.name_off && !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        std::uint32_t last_offset = 0;
        for (const auto& m : t.members) {
            if (!name_offset_valid(m.name_off))
                return log_member(id, t, m, "Invalid member name_offset:" + std::to_string(m.name_off)), false;
            if (m.name_off && !valid_identifier(m.name_off)) return log_member(id, t, m, "Invalid name"), false;
            if (!m.type || !id_in_range(m.type)) return log_member(id, t, m, "Invalid type_id"), false;
            const std::uint32_t offset = t.kflag() ? member_bit_offset(m.offset) : m.offset;
            if (is_union && offset) return log_member(id, t, m, "Invalid member bits_offset"), false;
            // ">" rather than ">=": the last member may be a flexible "char a[0]".
            if (last_offset > offset) return log_member(id, t, m, "Invalid member bits_offset"), false;
            if (bits_roundup_bytes(offset) > t.size())
                return log_member(id, t, m, "Member bits_offset exceeds its struct size"), false;
            last_offset = offset;
        }
        return true;
    }

    // btf_enum_check_meta and btf_enum64_check_meta, which differ only in the record they read.
    bool enum_check_meta(const BtfType& t) {
        const std::uint32_t id = t.id;
        if (t.size() > 8 || !is_power_of_2(t.size())) return log_type(id, t, "Unexpected size"), false;
        if (t.name_off && !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        for (const auto& e : t.enumerators) {
            if (!name_offset_valid(e.name_off)) {
                add(id, t.btf_offset, type_line(id, t, true, "") + "\n\tInvalid name_offset:" + std::to_string(e.name_off));
                return false;
            }
            if (!e.name_off || !valid_identifier(e.name_off)) return log_type(id, t, "Invalid name"), false;
        }
        return true;
    }

    bool func_proto_check_meta(const BtfType& t) {  // btf_func_proto_check_meta
        if (t.name_off) return log_type(t.id, t, "Invalid name"), false;
        if (t.kflag()) return log_type(t.id, t, "Invalid btf_info kind_flag"), false;
        return true;
    }

    bool func_check_meta(const BtfType& t) {  // btf_func_check_meta
        const std::uint32_t id = t.id;
        if (!t.name_off || !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        if (t.vlen() > kBtfFuncGlobal) return log_type(id, t, "Invalid func linkage"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        return true;
    }

    bool var_check_meta(const BtfType& t) {  // btf_var_check_meta
        const std::uint32_t id = t.id;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (!t.name_off || !valid_identifier(t.name_off)) return log_type(id, t, "Invalid name"), false;
        if (!t.type() || !id_in_range(t.type())) return log_type(id, t, "Invalid type_id"), false;
        if (t.var_linkage != kBtfVarStatic && t.var_linkage != kBtfVarGlobalAllocated)
            return log_type(id, t, "Linkage not supported"), false;
        return true;
    }

    bool datasec_check_meta(const BtfType& t) {  // btf_datasec_check_meta
        const std::uint32_t id = t.id;
        if (!t.size()) return log_type(id, t, "size == 0"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (!t.name_off || !valid_section_name(t.name_off)) return log_type(id, t, "Invalid name"), false;
        std::uint64_t last_end = 0, sum = 0;
        for (const auto& v : t.secinfos) {
            if (!v.type || !id_in_range(v.type)) return log_vsi(id, t, v, "Invalid type_id"), false;
            if (v.offset < last_end || v.offset >= t.size()) return log_vsi(id, t, v, "Invalid offset"), false;
            if (!v.size || v.size > t.size()) return log_vsi(id, t, v, "Invalid size"), false;
            // u32 arithmetic, as the kernel's vsi->offset + vsi->size: an end past 4 GiB
            // wraps and passes the next check, and only the sum below catches it.
            last_end = std::uint32_t(v.offset + v.size);
            if (last_end > t.size()) return log_vsi(id, t, v, "Invalid offset+size"), false;
            sum += v.size;
        }
        if (t.size() < sum) return log_type(id, t, "Invalid btf_info size"), false;
        return true;
    }

    bool float_check_meta(const BtfType& t) {  // btf_float_check_meta
        const std::uint32_t id = t.id;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        if (t.kflag()) return log_type(id, t, "Invalid btf_info kind_flag"), false;
        if (t.size() != 2 && t.size() != 4 && t.size() != 8 && t.size() != 12 && t.size() != 16)
            return log_type(id, t, "Invalid type_size"), false;
        return true;
    }

    bool decl_tag_check_meta(const BtfType& t) {  // btf_decl_tag_check_meta
        const std::uint32_t id = t.id;
        const auto v = btf_->string_at(t.name_off);
        if (!v || v->empty()) return log_type(id, t, "Invalid value"), false;
        if (t.vlen()) return log_type(id, t, "vlen != 0"), false;
        // kind_flag (attribute tag) is accepted since the same change as for TYPE_TAG.
        if (t.component_idx < -1) return log_type(id, t, "Invalid component_idx"), false;
        return true;
    }

    // ---- resolve phase (btf_check_all_types) ----

    static const BtfType& void_type() {
        static const BtfType v;
        return v;
    }
    // btf_type_by_id: void is a real (kind 0) type, ids past the end are null.
    const BtfType* lookup(std::uint32_t id) const { return id == 0 ? &void_type() : btf_->type_by_id(id); }
    static bool is_void(const BtfType* t) { return t == &void_type(); }
    static bool is_kind(const BtfType* t, BtfKind k) { return t && !is_void(t) && t->kind() == k; }
    static bool is_modifier(const BtfType* t) {
        return is_kind(t, BtfKind::Typedef) || is_kind(t, BtfKind::Volatile) || is_kind(t, BtfKind::Const) ||
               is_kind(t, BtfKind::Restrict) || is_kind(t, BtfKind::TypeTag);
    }
    static bool is_ptr(const BtfType* t) { return is_kind(t, BtfKind::Ptr); }
    static bool is_struct(const BtfType* t) { return is_kind(t, BtfKind::Struct) || is_kind(t, BtfKind::Union); }
    static bool is_array(const BtfType* t) { return is_kind(t, BtfKind::Array); }
    static bool is_var(const BtfType* t) { return is_kind(t, BtfKind::Var); }
    static bool is_datasec(const BtfType* t) { return is_kind(t, BtfKind::Datasec); }
    static bool is_decl_tag(const BtfType* t) { return is_kind(t, BtfKind::DeclTag); }
    static bool is_func(const BtfType* t) { return is_kind(t, BtfKind::Func); }
    static bool is_func_proto(const BtfType* t) { return is_kind(t, BtfKind::FuncProto); }
    static bool is_fwd(const BtfType* t) { return is_kind(t, BtfKind::Fwd); }
    static bool is_int(const BtfType* t) { return is_kind(t, BtfKind::Int); }
    static bool is_source_only(const BtfType* t) { return is_var(t) || is_decl_tag(t) || is_datasec(t); }
    static bool needs_resolve(const BtfType* t) {
        return is_modifier(t) || is_ptr(t) || is_struct(t) || is_array(t) || is_var(t) || is_func(t) ||
               is_decl_tag(t) || is_datasec(t);
    }
    static bool has_size(const BtfType* t) {
        return is_int(t) || is_struct(t) || is_kind(t, BtfKind::Enum) || is_datasec(t) || is_kind(t, BtfKind::Float) ||
               is_kind(t, BtfKind::Enum64);
    }
    static bool nosize_or_null(const BtfType* t) {
        return !t || is_void(t) || is_fwd(t) || is_func(t) || is_func_proto(t);
    }
    static bool int_is_regular(const BtfType* t) {
        const std::uint32_t bits = int_bits(t->int_data);
        const std::uint32_t bytes = bits_roundup_bytes(bits);
        return !(bits & 7) && !int_offset(t->int_data) &&
               (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8 || bytes == 16);
    }

    std::uint64_t local(std::uint32_t id) const { return id - btf_->start_id_; }
    bool is_resolved(std::uint32_t id) const {
        if (id < btf_->start_id_) return id != 0;  // base types are resolved; void never is
        return visit_[local(id)] == kResolved;
    }
    std::uint32_t resolved_id(std::uint32_t id) const { return id < btf_->start_id_ ? 0 : resolved_ids_[local(id)]; }
    std::uint32_t resolved_size(std::uint32_t id) const {
        return id < btf_->start_id_ ? 0 : resolved_sizes_[local(id)];
    }

    bool is_sink(const BtfType* next) const {
        switch (mode_) {
        case Mode::Tbd:
            return !needs_resolve(next);
        case Mode::Ptr:
            return !is_modifier(next) && !is_ptr(next);
        case Mode::StructOrArray:
            return !is_modifier(next) && !is_array(next) && !is_struct(next);
        }
        return false;
    }

    Err push(const BtfType* t, std::uint32_t id) {
        if (stack_.size() == kMaxResolveDepth) return kTooBig;
        if (id < btf_->start_id_ || visit_[local(id)] != kNotVisited) return kExists;
        visit_[local(id)] = kVisited;
        stack_.push_back({t, id, 0});
        if (mode_ == Mode::Tbd) {
            if (is_ptr(t))
                mode_ = Mode::Ptr;
            else if (is_struct(t) || is_array(t))
                mode_ = Mode::StructOrArray;
        }
        return kOk;
    }

    void pop_resolved(std::uint32_t rid, std::uint32_t rsize) {
        const std::uint32_t id = stack_.back().id;
        stack_.pop_back();
        resolved_ids_[local(id)] = rid;
        resolved_sizes_[local(id)] = rsize;
        visit_[local(id)] = kResolved;
    }

    // btf_type_id_size: the sized type ID stands for (following resolved modifiers/vars).
    const BtfType* type_id_size(std::uint32_t& id, std::uint32_t* out_size) const {
        std::uint32_t sid = id;
        const BtfType* st = lookup(sid);
        std::uint32_t size = 0;
        if (nosize_or_null(st)) return nullptr;
        if (has_size(st)) {
            size = st->size();
        } else if (is_array(st)) {
            size = resolved_size(sid);
        } else if (is_ptr(st)) {
            size = 8;
        } else {
            if (!is_modifier(st) && !is_var(st)) return nullptr;
            sid = resolved_id(sid);
            st = lookup(sid);
            if (nosize_or_null(st)) return nullptr;
            if (has_size(st))
                size = st->size();
            else if (is_array(st))
                size = resolved_size(sid);
            else if (is_ptr(st))
                size = 8;
            else
                return nullptr;
        }
        id = sid;
        if (out_size) *out_size = size;
        return st;
    }

    const BtfType* id_resolve(std::uint32_t& id) const {
        id = resolved_id(id);
        return lookup(id);
    }

    // btf_df_resolve: the kinds that never need resolving.
    Err df_resolve(Vertex& v) {
        log_basic(v.id, *v.t, "Unsupported resolve");
        return kInval;
    }
    Err modifier_resolve(Vertex& v) { return resolve_ref(v, false, false); }
    Err ptr_resolve(Vertex& v) { return resolve_ref(v, true, false); }
    Err var_resolve(Vertex& v) { return resolve_ref(v, true, true); }

    // btf_modifier_resolve, btf_ptr_resolve (FOLLOW_PTR) and btf_var_resolve (also IS_VAR).
    Err resolve_ref(Vertex& v, bool follow_ptr, bool is_var_kind) {
        const BtfType& t = *v.t;
        std::uint32_t next_id = t.type();
        const BtfType* next = lookup(next_id);
        if (!next || is_source_only(next)) return log_type(v.id, t, "Invalid type_id"), kInval;
        if (!is_sink(next) && !is_resolved(next_id)) return push(next, next_id);
        if (follow_ptr && is_modifier(next)) {
            std::uint32_t rid = next_id;
            const BtfType* rt = id_resolve(rid);
            if (is_ptr(rt) && !is_sink(rt) && !is_resolved(rid)) return push(rt, rid);
        }
        if (!type_id_size(next_id, nullptr)) {
            // A variable must resolve to something with a size; a modifier or pointer may
            // also end in void, a forward declaration or a function prototype.
            if (is_var_kind) return log_type(v.id, t, "Invalid type_id"), kInval;
            if (is_resolved(next_id)) next = id_resolve(next_id);
            if (!is_void(next) && !is_fwd(next) && !is_func_proto(next))
                return log_type(v.id, t, "Invalid type_id"), kInval;
        }
        pop_resolved(next_id, 0);
        return kOk;
    }

    Err struct_resolve(Vertex& v) {  // btf_struct_resolve
        const BtfType& s = *v.t;
        if (v.next_member) {
            const BtfMember& last = s.members[v.next_member - 1];
            if (!is_resolved(last.type)) return kInval;  // the kernel WARNs here; unreachable
            if (Err e = check_member(v.id, s, last, lookup(last.type)); e != kOk) return e;
        }
        for (std::uint16_t i = v.next_member; i < s.members.size(); i++) {
            const BtfMember& m = s.members[i];
            const BtfType* mt = lookup(m.type);
            if (nosize_or_null(mt) || is_source_only(mt)) return log_member(v.id, s, m, "Invalid member"), kInval;
            if (!is_sink(mt) && !is_resolved(m.type)) {
                v.next_member = static_cast<std::uint16_t>(i + 1);
                return push(mt, m.type);
            }
            if (Err e = check_member(v.id, s, m, mt); e != kOk) return e;
        }
        pop_resolved(0, 0);
        return kOk;
    }

    Err array_resolve(Vertex& v) {  // btf_array_resolve
        const BtfType& t = *v.t;
        std::uint32_t index_id = t.array_index_type;
        const BtfType* index = lookup(index_id);
        if (nosize_or_null(index) || is_source_only(index)) return log_type(v.id, t, "Invalid index"), kInval;
        if (!is_sink(index) && !is_resolved(index_id)) return push(index, index_id);
        index = type_id_size(index_id, nullptr);
        if (!index || !is_int(index) || !int_is_regular(index)) return log_type(v.id, t, "Invalid index"), kInval;

        std::uint32_t elem_id = t.array_type;
        const BtfType* elem = lookup(elem_id);
        if (nosize_or_null(elem) || is_source_only(elem)) return log_type(v.id, t, "Invalid elem"), kInval;
        if (!is_sink(elem) && !is_resolved(elem_id)) return push(elem, elem_id);
        std::uint32_t elem_size = 0;
        elem = type_id_size(elem_id, &elem_size);
        if (!elem) return log_type(v.id, t, "Invalid elem"), kInval;
        if (is_int(elem) && !int_is_regular(elem)) return log_type(v.id, t, "Invalid array of int"), kInval;
        if (t.array_nelems && elem_size > kU32Max / t.array_nelems)
            return log_type(v.id, t, "Array size overflows U32_MAX"), kInval;
        pop_resolved(elem_id, elem_size * t.array_nelems);
        return kOk;
    }

    Err func_check(std::uint32_t id, const BtfType& t) {
        const BtfType* proto = lookup(t.type());
        if (!proto || !is_func_proto(proto)) return log_type(id, t, "Invalid type_id"), kInval;
        for (std::size_t i = 0; i < proto->members.size(); i++)
            if (!proto->members[i].name_off && proto->members[i].type)
                return log_type(id, t, "Invalid arg#" + std::to_string(i + 1)), kInval;
        return kOk;
    }

    Err func_resolve(Vertex& v) {  // btf_func_resolve
        if (Err e = func_check(v.id, *v.t); e != kOk) return e;
        pop_resolved(v.t->type(), 0);
        return kOk;
    }

    Err datasec_resolve(Vertex& v) {  // btf_datasec_resolve
        const BtfType& d = *v.t;
        mode_ = Mode::Tbd;
        for (std::uint16_t i = v.next_member; i < d.secinfos.size(); i++) {
            const BtfVarSecinfo& s = d.secinfos[i];
            const BtfType* var = lookup(s.type);
            if (!var || !is_var(var)) return log_vsi(v.id, d, s, "Not a VAR kind member"), kInval;
            if (!is_sink(var) && !is_resolved(s.type)) {
                v.next_member = static_cast<std::uint16_t>(i + 1);
                return push(var, s.type);
            }
            std::uint32_t type_id = var->type(), type_size = 0;
            if (!type_id_size(type_id, &type_size)) return log_vsi(v.id, d, s, "Invalid type"), kInval;
            if (s.size < type_size) return log_vsi(v.id, d, s, "Invalid size"), kInval;
        }
        pop_resolved(0, 0);
        return kOk;
    }

    Err decl_tag_resolve(Vertex& v) {  // btf_decl_tag_resolve
        const BtfType& t = *v.t;
        const std::uint32_t next_id = t.type();
        const BtfType* next = lookup(next_id);
        if (!next || !(is_func(next) || is_struct(next) || is_var(next) || is_kind(next, BtfKind::Typedef)))
            return log_type(v.id, t, "Invalid type_id"), kInval;
        if (!is_sink(next) && !is_resolved(next_id)) return push(next, next_id);
        if (t.component_idx != -1) {
            if (is_var(next) || is_kind(next, BtfKind::Typedef))
                return log_type(v.id, t, "Invalid component_idx"), kInval;
            std::uint32_t vlen = 0;
            if (is_struct(next)) {
                vlen = next->vlen();
            } else {
                const BtfType* proto = lookup(next->type());
                vlen = proto ? proto->vlen() : 0;
            }
            if (std::uint32_t(t.component_idx) >= vlen) return log_type(v.id, t, "Invalid component_idx"), kInval;
        }
        pop_resolved(next_id, 0);
        return kOk;
    }

    // ---- each member type's check_member and check_kflag_member ----

    // What btf_struct_resolve asks of a member's type: check_kflag_member when the struct
    // has kind_flag (bitfield sizes in member offsets), check_member otherwise.
    Err check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        const KindOps& ops = kind_ops(mt->kind());
        return s.kflag() ? (this->*ops.check_kflag_member)(sid, s, m, mt) : (this->*ops.check_member)(sid, s, m, mt);
    }

    Err df_check_member(std::uint32_t sid, const BtfType& s, const BtfMember&, const BtfType*) {
        log_basic(sid, s, "Unsupported check_member");
        return kInval;
    }

    Err df_check_kflag_member(std::uint32_t sid, const BtfType& s, const BtfMember&, const BtfType*) {
        log_basic(sid, s, "Unsupported check_kflag_member");
        return kInval;
    }

    // btf_generic_check_kflag_member: without a bitfield size the offset is a plain bit
    // offset, and the kind's check_member applies.
    Err generic_check_kflag_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        if (member_bitfield_size(m.offset)) return log_member(sid, s, m, "Invalid member bitfield_size"), kInval;
        return (this->*kind_ops(mt->kind()).check_member)(sid, s, m, mt);
    }

    // btf_modifier_check_member and btf_modifier_check_kflag_member: the member is checked as
    // the type the modifiers resolve to.
    Err modifier_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType*) {
        std::uint32_t rid = m.type;
        const BtfType* rt = type_id_size(rid, nullptr);
        if (!rt) return log_member(sid, s, m, "Invalid member"), kInval;
        BtfMember resolved = m;
        resolved.type = rid;
        return check_member(sid, s, resolved, rt);
    }

    // btf_struct_check_member, also the enums' check_member (btf_enum_check_member).
    Err struct_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        if (m.offset & 7) return log_member(sid, s, m, "Member is not byte aligned"), kInval;
        if (s.size() - (m.offset >> 3) < mt->size()) return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err enum_check_kflag_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType*) {
        const std::uint32_t off = member_bit_offset(m.offset);
        std::uint32_t nr_bits = member_bitfield_size(m.offset);
        if (!nr_bits) {
            if (off & 7) return log_member(sid, s, m, "Member is not byte aligned"), kInval;
            nr_bits = 32;
        } else if (nr_bits > 32) {
            return log_member(sid, s, m, "Invalid member bitfield_size"), kInval;
        }
        if (s.size() < bits_roundup_bytes(std::uint64_t(off) + nr_bits))
            return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err ptr_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType*) {
        if (m.offset & 7) return log_member(sid, s, m, "Member is not byte aligned"), kInval;
        if (s.size() - (m.offset >> 3) < 8) return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err array_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType*) {
        if (m.offset & 7) return log_member(sid, s, m, "Member is not byte aligned"), kInval;
        std::uint32_t aid = m.type, array_size = 0;
        type_id_size(aid, &array_size);
        if (s.size() - (m.offset >> 3) < array_size) return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err float_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        const std::uint64_t align_bits = std::uint64_t(std::min<std::uint32_t>(8, mt->size())) * 8;
        if (align_bits == 0 || m.offset % align_bits) return log_member(sid, s, m, "Member is not properly aligned"), kInval;
        if (std::uint64_t(m.offset / 8) + mt->size() > s.size())
            return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err int_check_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        std::uint32_t off = m.offset;
        if (kU32Max - off < int_offset(mt->int_data)) return log_member(sid, s, m, "bits_offset exceeds U32_MAX"), kInval;
        off += int_offset(mt->int_data);
        const std::uint32_t bytes_offset = off >> 3;
        const std::uint32_t nr_copy_bits = int_bits(mt->int_data) + (off & 7);
        if (nr_copy_bits > kBitsPerU128) return log_member(sid, s, m, "nr_copy_bits exceeds 128"), kInval;
        if (s.size() < bytes_offset || s.size() - bytes_offset < bits_roundup_bytes(nr_copy_bits))
            return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    Err int_check_kflag_member(std::uint32_t sid, const BtfType& s, const BtfMember& m, const BtfType* mt) {
        if (!int_is_regular(mt)) return log_member(sid, s, m, "Invalid member base type"), kInval;
        std::uint32_t nr_bits = member_bitfield_size(m.offset);
        const std::uint32_t off = member_bit_offset(m.offset);
        const std::uint32_t nr_int_bits = int_bits(mt->int_data);
        if (!nr_bits) {
            if (off & 7) return log_member(sid, s, m, "Invalid member offset"), kInval;
            nr_bits = nr_int_bits;
        } else if (nr_bits > nr_int_bits) {
            return log_member(sid, s, m, "Invalid member bitfield_size"), kInval;
        }
        const std::uint32_t bytes_offset = off >> 3;
        const std::uint32_t nr_copy_bits = nr_bits + (off & 7);
        if (nr_copy_bits > kBitsPerU128) return log_member(sid, s, m, "nr_copy_bits exceeds 128"), kInval;
        if (s.size() < bytes_offset || s.size() - bytes_offset < bits_roundup_bytes(nr_copy_bits))
            return log_member(sid, s, m, "Member exceeds struct_size"), kInval;
        return kOk;
    }

    // ---- driving the resolution ----

    bool resolve_valid(const BtfType* t, std::uint32_t id) const {
        if (!is_resolved(id)) return false;
        if (is_struct(t) || is_datasec(t)) return !resolved_id(id) && !resolved_size(id);
        if (is_decl_tag(t) || is_func(t)) return resolved_id(id) && !resolved_size(id);
        if (is_modifier(t) || is_ptr(t) || is_var(t)) {
            std::uint32_t rid = id;
            const BtfType* rt = id_resolve(rid);
            return rt && !is_modifier(rt) && !is_var(rt) && !is_datasec(rt);
        }
        if (is_array(t)) {
            std::uint32_t elem_id = t->array_type, elem_size = 0;
            const BtfType* elem = type_id_size(elem_id, &elem_size);
            return elem && !is_modifier(elem) && t->array_nelems * elem_size == resolved_size(id);
        }
        return false;
    }

    Err resolve(const BtfType* t, std::uint32_t id) {
        mode_ = Mode::Tbd;
        Err err = push(t, id);
        while (err == kOk && !stack_.empty()) err = (this->*kind_ops(stack_.back().t->kind()).resolve)(stack_.back());
        if (err == kTooBig)
            log_type(id, *t, "Exceeded max resolving depth:" + std::to_string(kMaxResolveDepth));
        else if (err == kExists)
            log_type(id, *t, "Loop detected");
        if (err == kOk && !resolve_valid(t, id)) {
            log_type(id, *t, "Invalid resolve state");
            err = kInval;
        }
        return err;
    }

    Err func_proto_check(std::uint32_t id, const BtfType& t) {
        if (t.type()) {
            std::uint32_t ret_id = t.type();
            const BtfType* ret = lookup(ret_id);
            if (!ret || is_source_only(ret)) return log_type(id, t, "Invalid return type"), kInval;
            if (needs_resolve(ret) && !is_resolved(ret_id))
                if (Err e = resolve(ret, ret_id); e != kOk) return e;
            if (!type_id_size(ret_id, nullptr)) return log_type(id, t, "Invalid return type"), kInval;
        }
        std::size_t nr_args = t.members.size();
        if (!nr_args) return kOk;
        if (!t.members[nr_args - 1].type) {  // a trailing vararg has no type and no name
            if (t.members[nr_args - 1].name_off)
                return log_type(id, t, "Invalid arg#" + std::to_string(nr_args)), kInval;
            nr_args--;
        }
        for (std::size_t i = 0; i < nr_args; i++) {
            const BtfMember& a = t.members[i];
            std::uint32_t arg_id = a.type;
            const BtfType* arg = lookup(arg_id);
            const std::string msg = "Invalid arg#" + std::to_string(i + 1);
            if (!arg || is_source_only(arg)) return log_type(id, t, msg), kInval;
            if (a.name_off && (!name_offset_valid(a.name_off) || !valid_identifier(a.name_off)))
                return log_type(id, t, msg), kInval;
            if (needs_resolve(arg) && !is_resolved(arg_id))
                if (Err e = resolve(arg, arg_id); e != kOk) return e;
            if (!type_id_size(arg_id, nullptr)) return log_type(id, t, msg), kInval;
        }
        return kOk;
    }

    bool check_all_types() {
        const std::size_t n = btf_->types_.size();
        visit_.assign(n, kNotVisited);
        resolved_ids_.assign(n, 0);
        resolved_sizes_.assign(n, 0);
        for (const BtfType& t : btf_->types_) {
            if (needs_resolve(&t) && !is_resolved(t.id) && resolve(&t, t.id) != kOk) return false;
            if (is_func_proto(&t) && func_proto_check(t.id, t) != kOk) return false;
        }
        return true;
    }

    // btf_check_type_tags: TYPE_TAGs must come before any other modifier in a chain.
    bool check_type_tags() {
        std::uint32_t good_id = btf_->start_id_ - 1;
        for (const BtfType& first : btf_->types_) {
            const BtfType* t = &first;
            if (!is_modifier(t)) continue;
            bool in_tags = is_kind(t, BtfKind::TypeTag);
            std::uint32_t cur_id = first.id;
            int chain_limit = 32;
            while (is_modifier(t)) {
                if (!chain_limit--) return log_plain(first.id, first.btf_offset, "Max chain length or cycle detected"), false;
                if (is_kind(t, BtfKind::TypeTag)) {
                    if (!in_tags) return log_plain(first.id, first.btf_offset, "Type tags don't precede modifiers"), false;
                } else {
                    in_tags = false;
                }
                if (cur_id <= good_id) break;
                cur_id = t->type();
                t = lookup(cur_id);
                if (!t)
                    return log_plain(first.id, first.btf_offset,
                                     "(the kernel logs nothing here: modifier chain from [" + std::to_string(first.id) +
                                         "] reaches type id " + std::to_string(cur_id) +
                                         ", which does not exist; BPF_BTF_LOAD fails with EINVAL)"),
                           false;
            }
            good_id = first.id;
        }
        return true;
    }

    std::shared_ptr<Btf> btf_;
    std::vector<BtfFinding> findings_;
    std::vector<std::uint8_t> visit_;
    std::vector<std::uint32_t> resolved_ids_, resolved_sizes_;
    std::vector<Vertex> stack_;
    Mode mode_ = Mode::Tbd;
};

BtfCheck check_btf(std::string_view data, std::shared_ptr<const Btf> base) {
    return BtfChecker(data, std::move(base)).run();
}

}  // namespace flowattr::verify
