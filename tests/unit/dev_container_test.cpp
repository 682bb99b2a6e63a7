// .devcontainer/devcontainer.json opens the builder `make docker-image` makes, as the user its
// Dockerfile creates, with the tree mounted at its host path like `make shell` and
// docker-build.sh (so compile_commands.json paths hold inside and out).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "build_tree.h"
#include "common/file.h"

namespace {

std::string src(const std::string& path) { return flowattr::read_file(fa::test::source_dir() + "/" + path); }

TEST(DevContainer, OpensTheBuilderImageAsItsUserWithTheTreeAtItsHostPath) {
    const auto dc = nlohmann::json::parse(src(".devcontainer/devcontainer.json"));
    const std::string image = dc.at("image");
    EXPECT_NE(src("scripts/docker-image.sh").find("docker tag \"$ref\" " + image + "\n"), std::string::npos)
        << "scripts/docker-image.sh does not tag the builder " << image;

    const std::string init = dc.at("initializeCommand");
    std::smatch target;
    ASSERT_TRUE(std::regex_match(init, target, std::regex("make ([a-z-]+)"))) << init;
    EXPECT_TRUE(std::regex_search(src("Makefile"), std::regex("\n" + target[1].str() + ":"))) << "no make target " << target[1];

    const std::string user = dc.at("remoteUser");
    EXPECT_TRUE(std::regex_search(src("docker/Dockerfile"), std::regex("RUN useradd [^\n]* " + user + "\n"))) << user;
    EXPECT_EQ(dc.at("updateRemoteUserUID"), true);

    EXPECT_EQ(dc.at("workspaceFolder"), "${localWorkspaceFolder}");
    EXPECT_EQ(dc.at("workspaceMount"), "source=${localWorkspaceFolder},target=${localWorkspaceFolder},type=bind");
}

TEST(DevContainer, BothBuildsExportCompileCommands) {
    EXPECT_TRUE(std::regex_search(src("CMakeLists.txt"), std::regex("\nset\\(CMAKE_EXPORT_COMPILE_COMMANDS ON\\)")));
    const auto commands = nlohmann::json::parse(flowattr::read_file(fa::test::build_dir() + "/compile_commands.json"));
    ASSERT_FALSE(commands.empty());
    for (const auto& c : commands) {
        EXPECT_EQ(c.at("file").get<std::string>().rfind("/", 0), 0u) << c.dump();
        EXPECT_EQ(c.at("directory").get<std::string>().rfind(fa::test::build_dir(), 0), 0u) << c.dump();
    }
}

}  // namespace
