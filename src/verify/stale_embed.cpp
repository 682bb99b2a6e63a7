#include "verify/stale_embed.h"

#include <cerrno>
#include <sys/stat.h>

#include "common/error.h"
#include "common/sha256.h"

namespace flowattr::verify {

std::vector<Finding> check_embedded_against(const std::vector<EmbeddedBlob>& embedded, const std::string& dir) {
    std::vector<Finding> out;
    for (const EmbeddedBlob& blob : embedded) {
        const std::string path = dir + "/" + blob.name + ".bpf.o";
        const std::string embedded_sha = flowattr::sha256_hex(blob.bytes.data(), blob.bytes.size());
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            out.push_back({blob.name, "embed",
                           "embedded object " + blob.name + " (sha256 " + embedded_sha + ") has no built " + path + ": " +
                               flowattr::describe_errno("stat", errno),
                           {}});
            continue;
        }
        std::string built_sha;
        try {
            built_sha = flowattr::sha256_file(path);
        } catch (const flowattr::Error& e) {
            out.push_back({blob.name, "embed", e.what(), {}});
            continue;
        }
        if (built_sha != embedded_sha)
            out.push_back({blob.name, "embed",
                           "embedded object " + blob.name + " is stale: embedded sha256 " + embedded_sha + ", " + path +
                               " sha256 " + built_sha + " (rebuild the binary that embeds it)",
                           {}});
    }
    return out;
}

}  // namespace flowattr::verify
