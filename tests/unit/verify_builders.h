#pragma once
// Small writers for hand-built test inputs: BtfBuilder emits a BTF blob type by type (so a
// test shows exactly which record is malformed), ElfBuilder wraps sections and symbols into a
// 64-bit little-endian EM_BPF object. Both write the raw encodings of include/uapi/linux/btf.h
// and the ELF gABI directly, without any validation — malformed input is the point.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowattr::verify::testing {

inline void put32(std::string& b, std::uint32_t v) {
    for (int i = 0; i < 4; i++) b.push_back(char((v >> (8 * i)) & 0xff));
}
inline void put16(std::string& b, std::uint16_t v) {
    b.push_back(char(v & 0xff));
    b.push_back(char(v >> 8));
}
inline void put64(std::string& b, std::uint64_t v) {
    put32(b, std::uint32_t(v));
    put32(b, std::uint32_t(v >> 32));
}
inline void set32(std::string& b, std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; i++) b[off + i] = char((v >> (8 * i)) & 0xff);
}

class BtfBuilder {
public:
    struct Member {
        std::string name;
        std::uint32_t type;
        std::uint32_t offset;  // bits (or bitfield_size << 24 | bits with kind_flag)
    };
    struct Param {
        std::string name;
        std::uint32_t type;
    };
    struct Enumerator {
        std::string name;
        std::uint64_t value;
    };
    struct Secinfo {
        std::uint32_t type, offset, size;
    };

    // String offset of S, adding it once. "" is offset 0.
    std::uint32_t str(std::string_view s) {
        if (s.empty()) return 0;
        const std::size_t at = strings_.find(std::string(s) + '\0');
        if (at != std::string::npos && (at == 0 || strings_[at - 1] == '\0')) return std::uint32_t(at);
        const auto off = std::uint32_t(strings_.size());
        strings_ += s;
        strings_ += '\0';
        return off;
    }

    // The next type's id (ids start at 1).
    std::uint32_t next_id() const { return next_id_; }

    // A record with exactly these fields: for hostile input.
    std::uint32_t raw(std::uint32_t name_off, std::uint32_t info, std::uint32_t size_or_type,
                      const std::vector<std::uint32_t>& extra = {}) {
        put32(types_, name_off);
        put32(types_, info);
        put32(types_, size_or_type);
        for (std::uint32_t w : extra) put32(types_, w);
        return next_id_++;
    }
    static std::uint32_t info(std::uint32_t kind, std::uint32_t vlen, bool kflag = false) {
        return (kflag ? 1u << 31 : 0u) | kind << 24 | vlen;
    }

    std::uint32_t add_int(std::string_view name, std::uint32_t size, std::uint32_t bits, std::uint32_t encoding = 1,
                          std::uint32_t bit_offset = 0) {
        return raw(str(name), info(1, 0), size, {encoding << 24 | bit_offset << 16 | bits});
    }
    std::uint32_t add_ptr(std::uint32_t type) { return raw(0, info(2, 0), type); }
    std::uint32_t add_array(std::uint32_t elem, std::uint32_t index, std::uint32_t nelems) {
        return raw(0, info(3, 0), 0, {elem, index, nelems});
    }
    std::uint32_t add_struct(std::string_view name, std::uint32_t size, const std::vector<Member>& members,
                             bool kflag = false, bool is_union = false) {
        std::vector<std::uint32_t> extra;
        for (const auto& m : members) extra.insert(extra.end(), {str(m.name), m.type, m.offset});
        return raw(str(name), info(is_union ? 5 : 4, std::uint32_t(members.size()), kflag), size, extra);
    }
    std::uint32_t add_union(std::string_view name, std::uint32_t size, const std::vector<Member>& members) {
        return add_struct(name, size, members, false, true);
    }
    std::uint32_t add_enum(std::string_view name, std::uint32_t size, const std::vector<Enumerator>& values,
                           bool is_signed = false) {
        std::vector<std::uint32_t> extra;
        for (const auto& v : values) extra.insert(extra.end(), {str(v.name), std::uint32_t(v.value)});
        return raw(str(name), info(6, std::uint32_t(values.size()), is_signed), size, extra);
    }
    std::uint32_t add_enum64(std::string_view name, std::uint32_t size, const std::vector<Enumerator>& values) {
        std::vector<std::uint32_t> extra;
        for (const auto& v : values)
            extra.insert(extra.end(), {str(v.name), std::uint32_t(v.value), std::uint32_t(v.value >> 32)});
        return raw(str(name), info(19, std::uint32_t(values.size())), size, extra);
    }
    std::uint32_t add_fwd(std::string_view name, bool is_union = false) { return raw(str(name), info(7, 0, is_union), 0); }
    std::uint32_t add_typedef(std::string_view name, std::uint32_t type) { return raw(str(name), info(8, 0), type); }
    std::uint32_t add_volatile(std::uint32_t type) { return raw(0, info(9, 0), type); }
    std::uint32_t add_const(std::uint32_t type) { return raw(0, info(10, 0), type); }
    std::uint32_t add_restrict(std::uint32_t type) { return raw(0, info(11, 0), type); }
    std::uint32_t add_func(std::string_view name, std::uint32_t proto, std::uint32_t linkage = 1) {
        return raw(str(name), info(12, linkage), proto);
    }
    std::uint32_t add_func_proto(std::uint32_t ret, const std::vector<Param>& params) {
        std::vector<std::uint32_t> extra;
        for (const auto& p : params) extra.insert(extra.end(), {str(p.name), p.type});
        return raw(0, info(13, std::uint32_t(params.size())), ret, extra);
    }
    std::uint32_t add_var(std::string_view name, std::uint32_t type, std::uint32_t linkage = 1) {
        return raw(str(name), info(14, 0), type, {linkage});
    }
    std::uint32_t add_datasec(std::string_view name, std::uint32_t size, const std::vector<Secinfo>& vars) {
        std::vector<std::uint32_t> extra;
        for (const auto& v : vars) extra.insert(extra.end(), {v.type, v.offset, v.size});
        return raw(str(name), info(15, std::uint32_t(vars.size())), size, extra);
    }
    std::uint32_t add_float(std::string_view name, std::uint32_t size) { return raw(str(name), info(16, 0), size); }
    std::uint32_t add_decl_tag(std::string_view value, std::uint32_t type, std::int32_t component_idx = -1) {
        return raw(str(value), info(17, 0), type, {std::uint32_t(component_idx)});
    }
    std::uint32_t add_type_tag(std::string_view value, std::uint32_t type) { return raw(str(value), info(18, 0), type); }

    // Header (24 bytes) + type section + string section, in that order.
    std::string build() const {
        std::string b;
        put16(b, 0xeB9F);
        b.push_back(1);
        b.push_back(0);
        put32(b, 24);
        put32(b, 0);
        put32(b, std::uint32_t(types_.size()));
        put32(b, std::uint32_t(types_.size()));
        put32(b, std::uint32_t(strings_.size()));
        return b + types_ + strings_;
    }

private:
    std::string types_;
    std::string strings_ = std::string(1, '\0');
    std::uint32_t next_id_ = 1;
};

// Header field offsets, for tests that corrupt a built blob.
inline constexpr std::size_t kBtfTypeOff = 8, kBtfTypeLen = 12, kBtfStrOff = 16, kBtfStrLen = 20;

class ElfBuilder {
public:
    struct Symbol {
        std::string name;
        std::string section;  // "" for SHN_UNDEF
        std::uint64_t value = 0;
        std::uint8_t type = 2;  // STT_FUNC
        std::uint8_t bind = 1;  // STB_GLOBAL
        std::uint64_t size = 0;
    };

    explicit ElfBuilder(std::uint16_t machine = 247) : machine_(machine) {}

    // Section contents; EXEC marks it SHF_EXECINSTR (a program section).
    void section(std::string name, std::string data, bool exec = false, std::uint32_t type = 1) {
        sections_.push_back({std::move(name), std::move(data), exec, type});
    }
    void symbol(Symbol s) { symbols_.push_back(std::move(s)); }

    std::string build() const {
        // Layout: ELF header, section contents, .symtab, .strtab, .shstrtab, section headers.
        std::vector<Sec> all = sections_;
        std::string strtab(1, '\0');
        std::string symtab(24, '\0');  // symbol 0 is the null symbol
        for (const Symbol& s : symbols_) {
            put32(symtab, std::uint32_t(strtab.size()));
            strtab += s.name + '\0';
            symtab.push_back(char(s.bind << 4 | s.type));
            symtab.push_back(0);
            put16(symtab, std::uint16_t(index_of(s.section)));
            put64(symtab, s.value);
            put64(symtab, s.size);
        }
        const std::size_t symtab_index = all.size() + 1;
        all.push_back({".symtab", symtab, false, 2});
        all.push_back({".strtab", strtab, false, 3});
        std::string shstrtab(1, '\0');
        std::vector<std::uint32_t> name_offs;
        for (const Sec& s : all) {
            name_offs.push_back(std::uint32_t(shstrtab.size()));
            shstrtab += s.name + '\0';
        }
        name_offs.push_back(std::uint32_t(shstrtab.size()));
        shstrtab += std::string(".shstrtab") + '\0';
        all.push_back({".shstrtab", shstrtab, false, 3});

        std::string body;
        std::vector<std::uint64_t> offsets;
        for (const Sec& s : all) {
            while ((64 + body.size()) % 8) body.push_back(0);
            offsets.push_back(64 + body.size());
            body += s.data;
        }
        while ((64 + body.size()) % 8) body.push_back(0);
        const std::uint64_t shoff = 64 + body.size();

        std::string out("\x7f" "ELF", 4);
        out.push_back(2);  // ELFCLASS64
        out.push_back(1);  // ELFDATA2LSB
        out.push_back(1);  // EV_CURRENT
        out.append(9, '\0');
        put16(out, 1);  // ET_REL
        put16(out, machine_);
        put32(out, 1);
        put64(out, 0);
        put64(out, 0);
        put64(out, shoff);
        put32(out, 0);
        put16(out, 64);
        put16(out, 0);
        put16(out, 0);
        put16(out, 64);
        put16(out, std::uint16_t(all.size() + 1));
        put16(out, std::uint16_t(all.size()));  // .shstrtab is last
        out += body;
        out.append(64, '\0');  // section 0
        for (std::size_t i = 0; i < all.size(); i++) {
            const Sec& s = all[i];
            put32(out, name_offs[i]);
            put32(out, s.type);
            put64(out, s.exec ? 0x6 : (s.type == 1 ? 0x2 : 0));  // ALLOC|EXECINSTR or ALLOC
            put64(out, 0);
            put64(out, offsets[i]);
            put64(out, s.data.size());
            put32(out, s.type == 2 ? std::uint32_t(symtab_index + 1) : 0);  // .symtab links .strtab
            put32(out, s.type == 2 ? 1 : 0);
            put64(out, 8);
            put64(out, s.type == 2 ? 24 : 0);
        }
        return out;
    }

private:
    struct Sec {
        std::string name;
        std::string data;
        bool exec;
        std::uint32_t type;
    };
    std::size_t index_of(const std::string& name) const {
        for (std::size_t i = 0; i < sections_.size(); i++)
            if (sections_[i].name == name) return i + 1;
        return 0;
    }
    std::uint16_t machine_;
    std::vector<Sec> sections_;
    std::vector<Symbol> symbols_;
};

}  // namespace flowattr::verify::testing
