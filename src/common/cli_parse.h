#pragma once
// Every command line of flowattr and kmatrix is declared with CLI11 (Debian's libcli11-dev):
// the options, their checks and `--help` come from one definition per command. What CLI11
// leaves to each program is said once here: how a rejected command line is reported (one
// line, exit 2, for every command of both programs), how help is laid out, and the checks
// that turn a value into a type with the project's wording.
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace flowattr::cli {

// The one usage exit code: a flag, a value or a name the user gave is wrong; nothing ran.
constexpr int kUsageExit = 2;

// A command's App with the project's help layout.
std::unique_ptr<CLI::App> make_app(const std::string& name, const std::string& description);

// Parses ARGS (the words after the program or command name) into APP. Returns nothing when
// the command should go on; 0 after printing the help of the (sub)command asked for to OUT;
// kUsageExit after printing the error to ERR as one line that names the command and points
// to its --help.
std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// APP's own help, whichever subcommand the parse selected (`help()` would show that one's):
// what a program's `help` command prints.
std::string program_help(CLI::App& app);

// WORD where APP expects a command: "kmatrix: unknown command 'x' (expected run, repro, ...;
// kmatrix --help shows the usage)", the commands listed from APP's own, for both programs.
std::string unknown_command(const CLI::App& app, const std::string& word);

// A value checked by CHECK, which returns why the value is refused ("" accepts it); CLI11
// reports the refusal as "--option: why".
CLI::Validator check(std::function<std::string(const std::string&)> check, const std::string& description = "");

// A number above zero ("--memory: 0: expected a positive number").
CLI::Validator positive_number();

// An option that takes one of CHOICES by name into TARGET (an enum): the help shows
// "a|b|c", a wrong value "--option x: expected a, b or c".
template <typename Enum>
CLI::Option* add_choice(CLI::App& app, const std::string& name, Enum& target,
                        std::vector<std::pair<std::string, Enum>> choices, const std::string& description) {
    std::string names, expected;
    for (std::size_t i = 0; i < choices.size(); i++) {
        names += (i ? "|" : "") + choices[i].first;
        expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i].first;
    }
    const std::string flag = name.substr(name.rfind(',') == std::string::npos ? 0 : name.rfind(',') + 1);
    return app
        .add_option_function<std::string>(
            name,
            [&target, choices, flag, expected](const std::string& value) {
                for (const auto& [text, choice] : choices)
                    if (text == value) {
                        target = choice;
                        return;
                    }
                throw CLI::ValidationError(flag, value + ": expected " + expected);
            },
            description)
        ->type_name(names);
}

// "a,b,c" into its non-empty items.
std::vector<std::string> split_commas(const std::string& text);

}  // namespace flowattr::cli
