#include <iostream>

#include "agent/cli.h"

int main(int argc, char** argv) {
    return flowattr::agent::run_flowattr_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
