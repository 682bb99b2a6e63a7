// scripts/docker-image.sh on a machine that built the builder of earlier inputs: the new
// builder is built, and the builder and base images it replaced are removed, builders first,
// nothing else. Docker is a stand-in here (a script keeping "tag image-id" lines), so what is
// tested is the script's own choice of what to build, tag and remove; the real removal was
// run by hand (docs/RELIABILITY.md).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "build_tree.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace {

// The images this stand-in knows are the lines of $FAKE_DOCKER/images; each command it runs is
// appended to $FAKE_DOCKER/calls. A base tag of inputs it has not seen is the base of today's
// inputs (docker-base.sh finds it built); anything it does not implement fails the run.
constexpr const char* kFakeDocker = R"sh(#!/bin/sh
state=$FAKE_DOCKER
echo "$*" >>"$state/calls"
id_of() { awk -v r="$1" '$1 == r { print $2 }' "$state/images"; }
drop() { awk -v r="$1" '$1 != r' "$state/images" >"$state/images.new" && mv "$state/images.new" "$state/images"; }
case $1 in
image)
	[ "$2" = inspect ] || exit 2
	shift 2
	fmt=
	if [ "$1" = -f ]; then fmt=$2; shift 2; fi
	id=$(id_of "$1")
	if [ -z "$id" ]; then
		case $1 in flowattr-base:in-*) id=sha256:base-new; echo "$1 $id" >>"$state/images" ;; *) exit 1 ;; esac
	fi
	case $fmt in
	'') ;;
	'{{.Id}}') echo "$id" ;;
	'{{index .RootFS.Layers 0}}') echo "sha256:rootfs-of-$id" ;;
	*) exit 2 ;;
	esac ;;
build)
	while [ $# -gt 1 ]; do [ "$1" = -t ] && ref=$2; shift; done
	echo "$ref sha256:builder-new" >>"$state/images" ;;
tag)
	id=$(id_of "$2")
	[ -n "$id" ] || exit 1
	drop "$3"
	echo "$3 $id" >>"$state/images" ;;
images)
	[ "$2 $3 $4" = "--no-trunc --format {{.Repository}}:{{.Tag}} {{.ID}}" ] || exit 2
	awk -v repo="$5" 'index($1, repo ":") == 1' "$state/images" ;;
rmi)
	[ -n "$(id_of "$2")" ] || exit 1
	drop "$2" ;;
*) exit 2 ;;
esac
)sh";

struct FakeDocker {
    flowattr::TempDir dir{"fa-fake-docker"};
    FakeDocker() {
        flowattr::make_directories(dir.path() + "/bin");
        flowattr::write_file_atomic(dir.path() + "/bin/docker", kFakeDocker);
        chmod((dir.path() + "/bin/docker").c_str(), 0755);
        flowattr::write_file_atomic(dir.path() + "/calls", "");
    }
    flowattr::RunResult image_script() const {
        flowattr::RunOptions o;
        o.env = {"FAKE_DOCKER=" + dir.path(), "PATH=" + dir.path() + "/bin:" + std::getenv("PATH")};
        return flowattr::run_command({fa::test::source_dir() + "/scripts/docker-image.sh"}, o);
    }
    std::string images() const { return flowattr::read_file(dir.path() + "/images"); }
    std::string calls() const { return flowattr::read_file(dir.path() + "/calls"); }
};

TEST(BuilderImage, NewInputsRemoveTheSupersededBuilderAndBaseOnly) {
    FakeDocker docker;
    // Built from earlier inputs: a base under its two tags, a builder on it under its two, and
    // an image of another repository whose name begins the same way.
    flowattr::write_file_atomic(docker.dir.path() + "/images",
                         "flowattr-base:in-0000000000000000 sha256:base-old\n"
                         "flowattr-base:1111 sha256:base-old\n"
                         "flowattr-builder:in-2222222222222222 sha256:builder-old\n"
                         "flowattr-builder:latest sha256:builder-old\n"
                         "flowattr-builder-extra:x sha256:other\n");
    const auto first = docker.image_script();
    ASSERT_TRUE(first.ok()) << first.status_text() << "\n" << first.err << "\n" << docker.calls();
    const std::string ref = first.out.substr(0, first.out.find('\n'));
    EXPECT_EQ(ref.rfind("flowattr-builder:in-", 0), 0u) << first.out;

    const std::string calls = docker.calls();
    const std::size_t build = calls.find("\nbuild ");
    const std::size_t old_builder = calls.find("\nrmi flowattr-builder:in-2222222222222222\n");
    const std::size_t old_latest_gone = calls.find("\nrmi flowattr-builder:latest\n");
    const std::size_t old_base = calls.find("\nrmi flowattr-base:in-0000000000000000\n");
    const std::size_t old_base_sum = calls.find("\nrmi flowattr-base:1111\n");
    ASSERT_NE(build, std::string::npos) << calls;
    ASSERT_NE(old_builder, std::string::npos) << calls;
    ASSERT_NE(old_base, std::string::npos) << calls;
    ASSERT_NE(old_base_sum, std::string::npos) << calls;
    EXPECT_EQ(old_latest_gone, std::string::npos) << "latest is the new builder's tag now\n" << calls;
    EXPECT_LT(build, old_builder);
    EXPECT_LT(old_builder, old_base) << "a base goes after the builders made from it\n" << calls;
    EXPECT_EQ(calls.find("rmi flowattr-builder-extra"), std::string::npos) << calls;
    EXPECT_NE(first.err.find("docker-image: removed the superseded flowattr-base:1111"), std::string::npos) << first.err;

    const std::string left = docker.images();
    EXPECT_NE(left.find(ref + " sha256:builder-new\n"), std::string::npos) << left;
    EXPECT_NE(left.find("flowattr-builder:latest sha256:builder-new\n"), std::string::npos) << left;
    EXPECT_NE(left.find("flowattr-base:in-"), std::string::npos) << left;
    EXPECT_EQ(left.find("-old"), std::string::npos) << left;
    EXPECT_NE(left.find("flowattr-builder-extra:x"), std::string::npos) << left;

    // The same inputs again: the builder is reused, nothing built or removed.
    flowattr::write_file_atomic(docker.dir.path() + "/calls", "");
    const auto again = docker.image_script();
    ASSERT_TRUE(again.ok()) << again.err;
    EXPECT_EQ(again.out, first.out);
    EXPECT_EQ(docker.calls().find("build "), std::string::npos) << docker.calls();
    EXPECT_EQ(docker.calls().find("rmi "), std::string::npos) << docker.calls();
}

}  // namespace
