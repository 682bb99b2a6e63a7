// Transcripts pin the command lines of flowattr and kmatrix as a user sees them: each file of
// tests/unit/testdata/cli holds commands, each with its exact stdout, stderr and exit status
// (the way lmb/vimto keeps testdata/*.txt). Only commands that touch nothing belong here: help,
// usage errors, the cause table. After a deliberate change of the CLI, regenerate them with
//   FLOWATTR_UPDATE_TRANSCRIPTS=1 build/tests/unit/flowattr_unit_tests --gtest_filter='CliTranscript*'
// and review the diff.
//
// Format: "$ PROGRAM ARGS..." (words split at spaces), then "stdout:" and "stderr:" each
// followed by that stream's lines, then "exit N". Lines starting with "#" between commands
// are comments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli.h"
#include "build_tree.h"
#include "common/file.h"
#include "matrix/kmatrix_cli.h"
#include "verify/verify_cli.h"

namespace {

struct Transcript {
    std::string comment;  // the lines before the command
    std::vector<std::string> words;
    std::string out, err;
    int status = 0;
};

std::vector<Transcript> parse_transcripts(const std::string& text, const std::string& file) {
    std::vector<Transcript> cases;
    std::istringstream in(text);
    std::string line, comment;
    std::string* section = nullptr;
    int number = 0;
    while (std::getline(in, line)) {
        number++;
        const std::string where = file + ":" + std::to_string(number);
        if (line.rfind("$ ", 0) == 0) {
            Transcript t;
            t.comment = comment;
            comment.clear();
            std::istringstream words(line.substr(2));
            for (std::string w; words >> w;) t.words.push_back(w);
            cases.push_back(t);
            section = nullptr;
        } else if (!cases.empty() && section == nullptr && line == "stdout:") {
            section = &cases.back().out;
        } else if (!cases.empty() && section != nullptr && line == "stderr:") {
            section = &cases.back().err;
        } else if (!cases.empty() && line.rfind("exit ", 0) == 0 && section != nullptr) {
            cases.back().status = std::stoi(line.substr(5));
            section = nullptr;
        } else if (section != nullptr) {
            *section += line + "\n";
        } else if (line.empty() || line[0] == '#') {
            comment += line + "\n";
        } else {
            throw std::runtime_error(where + ": expected \"$ COMMAND\", \"stdout:\", \"stderr:\" or \"exit N\"");
        }
    }
    return cases;
}

std::string format_transcripts(const std::vector<Transcript>& cases) {
    std::string text;
    for (const auto& t : cases) {
        text += t.comment + "$";
        for (const auto& w : t.words) text += " " + w;
        text += "\nstdout:\n" + t.out + "stderr:\n" + t.err + "exit " + std::to_string(t.status) + "\n";
    }
    return text;
}

// Runs one command in this process, the way its main would.
Transcript run(const Transcript& expected) {
    Transcript got = expected;
    const std::string program = expected.words.at(0);
    std::vector<std::string> args(expected.words.begin() + 1, expected.words.end());
    if (program == "flowattr") {
        std::ostringstream out, err;
        got.status = flowattr::agent::run_flowattr_cli(
            args, out, err, [](const std::vector<std::string>& a, std::ostream& o, std::ostream& e) {
                return flowattr::verify::run_verify_cli(a, o, e);
            });
        got.out = out.str();
        got.err = err.str();
    } else if (program == "kmatrix") {
        std::vector<char*> argv;
        for (auto& w : got.words) argv.push_back(w.data());
        testing::internal::CaptureStdout();
        testing::internal::CaptureStderr();
        got.status = flowattr::matrix::run_kmatrix_cli(int(argv.size()), argv.data());
        got.out = testing::internal::GetCapturedStdout();
        got.err = testing::internal::GetCapturedStderr();
    } else {
        throw std::runtime_error("unknown program " + program + " (flowattr or kmatrix)");
    }
    return got;
}

class CliTranscript : public ::testing::TestWithParam<std::string> {};

TEST_P(CliTranscript, OutputAndExitAsWritten) {
    // Defaults that come from the environment must not leak into the transcripts.
    for (const char* name : {"FLOWATTR_KERNELS", "FLOWATTR_ACCEL", "FLOWATTR_CACHE"}) ::unsetenv(name);
    const std::string path = fa::test::source_dir() + "/tests/unit/testdata/cli/" + GetParam();
    const auto cases = parse_transcripts(flowattr::read_file(path), path);
    ASSERT_FALSE(cases.empty()) << path << " holds no command";
    std::vector<Transcript> got;
    for (const auto& expected : cases) got.push_back(run(expected));
    if (std::getenv("FLOWATTR_UPDATE_TRANSCRIPTS")) {
        std::ofstream(path) << format_transcripts(got);
        GTEST_SKIP() << "rewrote " << path << "; review it with git diff";
    }
    for (std::size_t i = 0; i < cases.size(); i++) {
        std::string line = "$";
        for (const auto& w : cases[i].words) line += " " + w;
        SCOPED_TRACE(path + ": " + line);
        EXPECT_EQ(got[i].out, cases[i].out);
        EXPECT_EQ(got[i].err, cases[i].err);
        EXPECT_EQ(got[i].status, cases[i].status);
    }
}

// Every file of the directory, so a new transcript is a new file and nothing else.
std::vector<std::string> transcript_files() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(fa::test::source_dir() + "/tests/unit/testdata/cli"))
        if (entry.path().extension() == ".txt") names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

INSTANTIATE_TEST_SUITE_P(Files, CliTranscript, ::testing::ValuesIn(transcript_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param.substr(0, info.param.find('.'));
                             return name;
                         });

}  // namespace
