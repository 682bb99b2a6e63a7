#pragma once
// Hand-built BTF blobs, one per kernel check, each with the verifier-log text the kernel
// prints for it (the type line, and the member/variable line where the kernel adds one).
// The expected texts were confirmed against a 6.18 kernel's BPF_BTF_LOAD log.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "verify_builders.h"

namespace flowattr::verify::testing {

struct BtfCase {
    std::string name;
    std::string blob;
    std::string expected;  // the first finding's log; "" when the blob must be accepted
};

// What gtest prints for a case (its name and size), instead of a dump of the struct's bytes.
inline void PrintTo(const BtfCase& c, std::ostream* os) { *os << c.name << " (" << c.blob.size() << "-byte BTF)"; }

inline std::vector<BtfCase> btf_cases() {
    std::vector<BtfCase> cases;
    const auto add = [&](std::string name, const BtfBuilder& b, std::string expected) {
        cases.push_back({std::move(name), b.build(), std::move(expected)});
    };
    using M = BtfBuilder::Member;
    using P = BtfBuilder::Param;
    using E = BtfBuilder::Enumerator;
    using S = BtfBuilder::Secinfo;
    {
        // rustc's data-carrying enums: a STRUCT whose one member points at void.
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("Result", 4, {M{"", 0, 0}});
        add("rust_enum_member_type_id_0", b,
            "[2] STRUCT Result size=4 vlen=1\n\t(anon) type_id=0 bits_offset=0 Invalid type_id");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("Result<u32>", 4, {M{"", 1, 0}});
        add("rust_generic_name", b, "[2] STRUCT Result<u32> size=4 vlen=1 Invalid name");
    }
    {
        BtfBuilder b;
        const auto i = b.add_int("int", 4, 32);
        const auto p = b.add_ptr(i);
        b.add_const(p);
        b.add_volatile(i);
        b.add_typedef("u32", i);
        b.add_float("double", 8);
        b.add_fwd("later");
        b.add_enum("dir", 4, {E{"IN", 0}, E{"OUT", 1}});
        const auto s = b.add_struct("pair", 16, {M{"a", i, 0}, M{"p", p, 64}});
        const auto arr = b.add_array(s, i, 2);
        const auto proto = b.add_func_proto(i, {P{"ctx", p}});
        const auto f = b.add_func("prog", proto);
        const auto v = b.add_var("pairs", arr);
        b.add_datasec(".data", 32, {S{v, 0, 32}});
        b.add_decl_tag("tag", f, 0);
        b.add_type_tag("user", i);
        add("every_kind_valid", b, "");
    }
    {
        BtfBuilder b;
        b.add_int("x", 4, 32, 3);
        add("int_encoding", b, "[1] INT x size=4 bits_offset=0 nr_bits=32 encoding=UNKN Unsupported encoding");
    }
    {
        BtfBuilder b;
        b.add_int("x", 1, 16);
        add("int_bits_past_size", b, "[1] INT x size=1 bits_offset=0 nr_bits=16 encoding=SIGNED nr_bits exceeds type_size");
    }
    {
        BtfBuilder b;
        b.add_int("x", 16, 120, 1, 16);
        add("int_over_128_bits", b, "[1] INT x size=16 bits_offset=16 nr_bits=120 encoding=SIGNED nr_bits exceeds 128");
    }
    {
        BtfBuilder b;
        b.raw(b.str("x"), BtfBuilder::info(1, 0, true), 4, {1u << 24 | 32});
        add("int_kind_flag", b, "[1] INT x size=4 bits_offset=0 nr_bits=32 encoding=SIGNED Invalid btf_info kind_flag");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(b.str("p"), BtfBuilder::info(2, 0), 1);
        add("ptr_named", b, "[2] PTR p type_id=1 Invalid name");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_ptr(5);
        add("ptr_to_missing_type", b, "[2] PTR (anon) type_id=5 Invalid type_id");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_array(1, 0, 4);
        add("array_index_void", b, "[2] ARRAY (anon) type_id=1 index_type_id=0 nr_elems=4 Invalid index");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_array(0, 1, 4);
        add("array_elem_void", b, "[2] ARRAY (anon) type_id=0 index_type_id=1 nr_elems=4 Invalid elem");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 4, {M{"a", 1, 0}});
        b.add_array(1, 2, 4);
        add("array_index_struct", b, "[3] ARRAY (anon) type_id=1 index_type_id=2 nr_elems=4 Invalid index");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 8, {M{"a", 1, 32}, M{"b", 1, 0}});
        add("struct_offsets_decrease", b, "[2] STRUCT s size=8 vlen=2\n\tb type_id=1 bits_offset=0 Invalid member bits_offset");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 4, {M{"a", 1, 64}});
        add("struct_member_offset_past_size", b,
            "[2] STRUCT s size=4 vlen=1\n\ta type_id=1 bits_offset=64 Member bits_offset exceeds its struct size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 4, {M{"a", 1, 32}});
        add("struct_member_past_end", b, "[2] STRUCT s size=4 vlen=1\n\ta type_id=1 bits_offset=32 Member exceeds struct_size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_union("u", 8, {M{"a", 1, 0}, M{"b", 1, 32}});
        add("union_member_offset", b, "[2] UNION u size=8 vlen=2\n\tb type_id=1 bits_offset=32 Invalid member bits_offset");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 8, {M{"a", 1, 40u << 24}}, true);
        add("bitfield_wider_than_int", b,
            "[2] STRUCT s size=8 vlen=1\n\ta type_id=1 bitfield_size=40 bits_offset=0 Invalid member bitfield_size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("inner", 4, {M{"a", 1, 0}});
        b.add_struct("outer", 8, {M{"x", 2, 4}});
        add("struct_member_unaligned", b,
            "[3] STRUCT outer size=8 vlen=1\n\tx type_id=2 bits_offset=4 Member is not byte aligned");
    }
    {
        BtfBuilder b;
        b.add_enum("e", 3, {E{"A", 1}});
        add("enum_size", b, "[1] ENUM e size=3 vlen=1 Unexpected size");
    }
    {
        BtfBuilder b;
        b.add_enum("e", 4, {E{"", 1}});
        add("enum_value_without_name", b, "[1] ENUM e size=4 vlen=1 Invalid name");
    }
    {
        BtfBuilder b;
        b.add_enum64("e", 16, {E{"A", 1}});
        add("enum64_size", b, "[1] ENUM64 e size=16 vlen=1 Unexpected size");
    }
    {
        BtfBuilder b;
        b.add_fwd("");
        add("fwd_without_name", b, "[1] FWD (anon) struct Invalid name");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_typedef("", 1);
        add("typedef_without_name", b, "[2] TYPEDEF (anon) type_id=1 Invalid name");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(b.str("c"), BtfBuilder::info(10, 0), 1);
        add("const_named", b, "[2] CONST c type_id=1 Invalid name");
    }
    {
        BtfBuilder b;
        b.add_func_proto(0, {});
        b.add_func("f", 1, 2);
        add("func_extern_linkage", b, "[2] FUNC f type_id=1 Invalid func linkage");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_func("f", 1);
        add("func_not_a_proto", b, "[2] FUNC f type_id=1 Invalid type_id");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_func_proto(1, {P{"", 1}});
        b.add_func("f", 2);
        add("func_arg_without_name", b, "[3] FUNC f type_id=2 Invalid arg#1");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("v", 1);
        b.add_func_proto(2, {});
        add("func_proto_returns_var", b, "[3] FUNC_PROTO (anon) return=2 args=(void) Invalid return type");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("v", 1, 2);
        add("var_extern", b, "[2] VAR v type_id=1 linkage=2 Linkage not supported");
    }
    {
        BtfBuilder b;
        b.add_var("v", 0);
        add("var_void", b, "[1] VAR v type_id=0 linkage=1 Invalid type_id");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_var("b", 1);
        b.add_datasec(".data", 8, {S{3, 4, 4}, S{2, 0, 4}});
        add("datasec_unsorted", b, "[4] DATASEC .data size=8 vlen=2\n\t type_id=2 offset=0 size=4 Invalid offset");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_datasec(".data", 0, {S{2, 0, 4}});
        add("datasec_size_0", b, "[3] DATASEC .data size=0 vlen=1 size == 0");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_datasec(".data", 8, {S{2, 4, 8}});
        add("datasec_var_past_end", b, "[3] DATASEC .data size=8 vlen=1\n\t type_id=2 offset=4 size=8 Invalid offset+size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_datasec(".data", 4, {S{1, 0, 4}});
        add("datasec_not_var", b, "[2] DATASEC .data size=4 vlen=1\n\t type_id=1 offset=0 size=4 Not a VAR kind member");
    }
    {
        BtfBuilder b;
        b.add_float("f", 3);
        add("float_size", b, "[1] FLOAT f size=3 Invalid type_size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 4, {M{"a", 1, 0}});
        b.add_decl_tag("tag", 2, 5);
        add("decl_tag_component_idx", b, "[3] DECL_TAG tag type=2 component_idx=5 Invalid component_idx");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_decl_tag("", 1);
        add("decl_tag_empty", b, "[2] DECL_TAG (anon) type=1 component_idx=-1 Invalid value");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_type_tag("tag", 1);
        b.add_const(2);
        b.add_ptr(3);
        add("type_tag_after_modifier", b, "Type tags don't precede modifiers");
    }
    {
        BtfBuilder b;
        b.add_struct("A", 4, {M{"b", 2, 0}});
        b.add_struct("B", 4, {M{"a", 1, 0}});
        add("struct_loop", b, "[1] STRUCT A size=4 vlen=1 Loop detected");
    }
    {
        BtfBuilder b;
        b.add_typedef("a", 2);
        b.add_typedef("b", 1);
        add("typedef_loop", b, "[1] TYPEDEF a type_id=2 Loop detected");
    }
    {
        BtfBuilder b;
        b.raw(0, BtfBuilder::info(20, 0), 0);
        add("invalid_kind", b, "[1] Invalid kind:20");
    }
    {
        BtfBuilder b;
        b.raw(0, 1u << 24 | 1u << 16, 4, {32});
        add("invalid_btf_info", b, "[1] Invalid btf_info:1010000");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(b.str("s"), BtfBuilder::info(4, 2), 8, {0, 1, 0});
        add("struct_meta_left", b, "[2] STRUCT s meta_left:12 meta_needed:24");
    }
    {
        BtfBuilder b;
        b.raw(9999, BtfBuilder::info(1, 0), 4, {32});
        add("invalid_name_offset", b, "[1] Invalid name_offset:9999");
    }
    {
        BtfBuilder b;
        b.raw(b.str("x"), BtfBuilder::info(1, 1), 4, {1u << 24 | 32});
        add("int_vlen", b, "[1] INT x size=4 bits_offset=0 nr_bits=32 encoding=SIGNED vlen != 0");
    }
    {
        BtfBuilder b;
        b.raw(b.str("x"), BtfBuilder::info(1, 0), 4, {1u << 28 | 32});  // bits 28-31 are reserved
        add("int_data_reserved_bits", b, "[1] INT x Invalid int_data:10000020");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(b.str("later"), BtfBuilder::info(7, 0), 1);
        add("fwd_with_type", b, "[2] FWD later struct type != 0");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(0, BtfBuilder::info(3, 0), 8, {1, 1, 2});
        add("array_with_size", b, "[2] ARRAY (anon) type_id=1 index_type_id=1 nr_elems=2 size != 0");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_int("u12", 2, 12);
        b.add_array(2, 1, 4);
        add("array_of_irregular_int", b, "[3] ARRAY (anon) type_id=2 index_type_id=1 nr_elems=4 Invalid array of int");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_array(1, 1, 1u << 30);  // 4 GiB of int
        add("array_size_overflow", b,
            "[2] ARRAY (anon) type_id=1 index_type_id=1 nr_elems=1073741824 Array size overflows U32_MAX");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.raw(b.str("s"), BtfBuilder::info(4, 1), 4, {9999, 1, 0});
        add("struct_member_name_offset", b,
            "[2] STRUCT s size=4 vlen=1\n\t(invalid-name-offset) type_id=1 bits_offset=0 Invalid member name_offset:9999");
    }
    {
        BtfBuilder b;
        b.add_int("u12", 2, 12);
        b.add_struct("s", 4, {M{"a", 1, 12u << 24}}, true);
        add("bitfield_of_irregular_int", b,
            "[2] STRUCT s size=4 vlen=1\n\ta type_id=1 bitfield_size=12 bits_offset=0 Invalid member base type");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_struct("s", 8, {M{"a", 1, 4}}, true);  // bitfield_size 0: a whole int, so byte-aligned
        add("kflag_member_unaligned", b,
            "[2] STRUCT s size=8 vlen=1\n\ta type_id=1 bitfield_size=0 bits_offset=4 Invalid member offset");
    }
    {
        BtfBuilder b;
        b.add_float("double", 8);
        b.add_struct("s", 16, {M{"d", 1, 32}});
        add("float_member_misaligned", b,
            "[2] STRUCT s size=16 vlen=1\n\td type_id=1 bits_offset=32 Member is not properly aligned");
    }
    {
        BtfBuilder b;
        b.add_func_proto(0, {});
        b.add_struct("s", 8, {M{"f", 1, 0}});
        add("struct_member_func_proto", b, "[2] STRUCT s size=8 vlen=1\n\tf type_id=1 bits_offset=0 Invalid member");
    }
    {
        BtfBuilder b;
        b.add_int("hi16", 4, 16, 1, 16);  // the value sits at bit 16 of its 4 bytes
        b.add_struct("s", 1u << 29, {M{"a", 1, 0xfffffff8}});
        add("int_member_bits_offset_wraps", b,
            "[2] STRUCT s size=536870912 vlen=1\n\ta type_id=1 bits_offset=4294967288 bits_offset exceeds U32_MAX");
    }
    {
        BtfBuilder b;
        b.add_int("__int128", 16, 128);
        b.add_struct("s", 32, {M{"a", 1, 4}});
        add("int128_member_off_byte", b,
            "[2] STRUCT s size=32 vlen=1\n\ta type_id=1 bits_offset=4 nr_copy_bits exceeds 128");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_func_proto(1, {P{"a", 9}});
        add("func_proto_arg_missing_type", b, "[2] FUNC_PROTO (anon) return=1 args=(9 a) Invalid arg#1");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_func_proto(1, {P{"", 0}, P{"b", 1}});
        add("func_proto_vararg_not_last", b, "[2] FUNC_PROTO (anon) return=1 args=(0 (anon), 1 b) Invalid arg#1");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_func_proto(1, {P{"a", 1}, P{"rest", 0}});
        add("func_proto_named_vararg", b, "[2] FUNC_PROTO (anon) return=1 args=(1 a, vararg) Invalid arg#2");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_datasec(".data", 4, {S{2, 0, 0}});
        add("datasec_var_size_0", b, "[3] DATASEC .data size=4 vlen=1\n\t type_id=2 offset=0 size=0 Invalid size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_datasec(".data", 4, {S{2, 0, 2}});
        add("datasec_var_smaller_than_type", b,
            "[3] DATASEC .data size=4 vlen=1\n\t type_id=2 offset=0 size=2 Invalid size");
    }
    {
        // The second variable's end (0xf0000000 + 0x20000000) wraps in the kernel's u32 sum
        // and so passes the offset+size check; only the 64-bit total of the sizes catches it.
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_var("a", 1);
        b.add_var("b", 1);
        b.add_datasec(".data", 0xfffffff0, {S{2, 0, 0xf0000000}, S{3, 0xf0000000, 0x20000000}});
        add("datasec_sizes_wrap_past_section", b, "[4] DATASEC .data size=4294967280 vlen=2 Invalid btf_info size");
    }
    {
        BtfBuilder b;
        b.add_int("int", 4, 32);
        for (std::uint32_t id = 2; id <= 34; id++) b.add_const(id == 34 ? 1 : id + 1);  // 33 CONSTs in a row
        add("modifier_chain_too_deep", b, "[2] CONST (anon) type_id=3 Exceeded max resolving depth:32");
    }
    {
        // 33 CONSTs in a row ([3] to [35]) that still resolve: [2] points into the middle, so
        // resolving it first leaves [3] only 16 deep. The type-tag walk from [3] follows all 33.
        BtfBuilder b;
        b.add_int("int", 4, 32);
        b.add_const(19);
        for (std::uint32_t id = 3; id <= 35; id++) b.add_const(id == 35 ? 1 : id + 1);
        add("modifier_chain_too_long", b, "Max chain length or cycle detected");
    }
    // Header and string section.
    BtfBuilder one_int;
    one_int.add_int("int", 4, 32);
    const std::string good = one_int.build();
    {
        std::string b = good;
        b[0] = 0;
        cases.push_back({"bad_magic", b, "Invalid magic"});
    }
    {
        std::string b = good;
        b[2] = 2;
        cases.push_back({"bad_version", b, "Unsupported version"});
    }
    {
        std::string b = good;
        b[3] = 1;
        cases.push_back({"flags", b, "Unsupported flags"});
    }
    {
        std::string b = good;
        set32(b, kBtfStrOff, 12);  // strings start inside the 16-byte type section
        set32(b, kBtfStrLen, std::uint32_t(b.size() - 24 - 12));
        cases.push_back({"overlapping_sections", b, "Section overlap found"});
    }
    {
        std::string b = good;
        b.back() = 'x';
        cases.push_back({"unterminated_strings", b, "Invalid string section"});
    }
    {
        std::string b = good;
        b[24 + 16] = 'x';
        cases.push_back({"strings_not_starting_with_nul", b, "Invalid string section"});
    }
    {
        std::string b = good + std::string(4, '\0');
        cases.push_back({"trailing_bytes", b, "Unsupported section found"});
    }
    {
        std::string b = good;
        set32(b, kBtfStrLen, 0);
        set32(b, kBtfTypeLen, 0);
        set32(b, kBtfTypeOff, 0);
        set32(b, kBtfStrOff, 0);
        b.resize(24 + 1);
        b[24] = 0;
        set32(b, kBtfStrLen, 1);
        cases.push_back({"no_types", b, "No type found"});
    }
    cases.push_back({"four_bytes", good.substr(0, 4), "hdr_len not found"});
    {
        std::string b = good;
        set32(b, 4, 100);
        cases.push_back({"header_longer_than_data", b, "btf_header not found"});
    }
    cases.push_back({"header_only", good.substr(0, 24), "No data"});
    {
        std::string b = good.substr(0, 24) + std::string("\x01\0\0\0", 4) + good.substr(24);
        set32(b, 4, 28);  // a 28-byte header whose field past the known 24 bytes is set
        cases.push_back({"header_unknown_field_set", b, "Unsupported btf_header"});
    }
    {
        std::string b = good;
        set32(b, kBtfStrOff, 1000);
        cases.push_back({"strings_past_the_end", b, "Invalid section offset"});
    }
    {
        std::string b = good;
        set32(b, kBtfStrLen, std::uint32_t(b.size() - 24 - 16 + 4));  // 4 bytes more than there are
        cases.push_back({"strings_longer_than_data", b, "Total section length too long"});
    }
    {
        // Strings first (NUL-padded to 8 bytes so the types stay aligned), then the types.
        const std::string strings = good.substr(24 + 16) + std::string(3, '\0');
        std::string b = good.substr(0, 24) + strings + good.substr(24, 16);
        set32(b, kBtfStrOff, 0);
        set32(b, kBtfStrLen, std::uint32_t(strings.size()));
        set32(b, kBtfTypeOff, std::uint32_t(strings.size()));
        cases.push_back({"strings_before_types", b, "String section is not at the end"});
    }
    {
        // The one layout the section checks allow with an unaligned type_off: an empty type
        // section right after the 5-byte string section.
        const std::string strings = good.substr(24 + 16);
        std::string b = good.substr(0, 24) + strings;
        set32(b, kBtfTypeOff, std::uint32_t(strings.size()));
        set32(b, kBtfTypeLen, 0);
        set32(b, kBtfStrOff, 0);
        cases.push_back({"type_off_unaligned", b, "Unaligned type_off"});
    }
    {
        std::string b = good.substr(0, 24 + 8) + good.substr(24 + 16);  // the INT record cut to 8 bytes
        set32(b, kBtfTypeLen, 8);
        set32(b, kBtfStrOff, 8);
        cases.push_back({"type_record_cut_short", b, "[1] meta_left:8 meta_needed:12"});
    }
    return cases;
}

}  // namespace flowattr::verify::testing
