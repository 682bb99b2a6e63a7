#include "common/cli_parse.h"

#include <cstdlib>
#include <memory>
#include <sstream>

namespace flowattr::cli {
namespace {

// The subcommand the parse selected, deepest first ("run" of "flowattr run"); APP itself
// when none was.
const CLI::App& selected_command(const CLI::App& app) {
    const auto selected = app.get_subcommands();
    return selected.empty() ? app : selected_command(*selected.front());
}

// "flowattr run": the program and every subcommand the parse selected.
std::string command_path(const CLI::App& app) {
    const auto selected = app.get_subcommands();
    return selected.empty() ? app.get_name() : app.get_name() + " " + command_path(*selected.front());
}

// "--iface a --iface b", never "--iface a b": a word after an option's value is the next
// argument, as getopt has it (CLI11 lets a repeatable option swallow the words after it).
void one_value_per_occurrence(CLI::App& app) {
    for (CLI::Option* option : app.get_options())
        if (!option->get_positional()) option->allow_extra_args(false);
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) one_value_per_occurrence(*sub);
}

// CLI11 writes "Excludes: --other" beside an option's name, where it pushes the description
// onto a line of its own; here it ends the description instead, in words.
class HelpFormatter : public CLI::Formatter {
public:
    std::string make_option_opts(const CLI::Option* opt) const override {
        std::string opts = CLI::Formatter::make_option_opts(opt);
        // What an option needs and excludes are the last things CLI11 writes there; the
        // description says them in words.
        for (const char* label : {"Needs", "Excludes"}) {
            const std::size_t at = opts.find(" " + get_label(label) + ":");
            if (at != std::string::npos) opts.resize(at);
        }
        return opts;
    }
    std::string make_option_desc(const CLI::Option* opt) const override {
        std::string desc = opt->get_description();
        for (const CLI::Option* other : opt->get_needs()) desc += "; with " + other->get_name() + " only";
        const char* sep = "; not with ";
        for (const CLI::Option* other : opt->get_excludes()) {
            desc += sep + other->get_name();
            sep = " or ";
        }
        return desc;
    }
};

int usage_error(const CLI::App& app, const std::string& what, std::ostream& err) {
    err << command_path(app) << ": " << what << " (" << command_path(app) << " --help shows the usage)\n";
    return kUsageExit;
}

}  // namespace

std::unique_ptr<CLI::App> make_app(const std::string& name, const std::string& description) {
    auto app = std::make_unique<CLI::App>(description, name);
    app->formatter(std::make_shared<HelpFormatter>());
    app->get_formatter()->column_width(26);
    app->get_formatter()->label("REQUIRED", "(required)");
    // The help shows each option's default, taken from the variable it fills.
    app->option_defaults()->always_capture_default();
    return app;
}

std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    // CLI11's vector form takes the words last first, as a stack.
    one_value_per_occurrence(app);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
        return std::nullopt;
    } catch (const CLI::CallForHelp&) {
        // A word the command does not know is named even next to --help (CLI11 answers
        // --help before it looks at the rest), so `CMD FLAGS... --help` checks FLAGS.
        const CLI::App& command = selected_command(app);
        if (!command.get_allow_extras() && !command.remaining().empty())
            return usage_error(app, CLI::ExtrasError(command.get_name(), command.remaining()).what(), err);
        // help() of the program prints the help of the subcommand the words selected.
        out << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        return usage_error(app, e.what(), err);
    }
}

std::string program_help(CLI::App& app) {
    return app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
}

std::string unknown_command(const CLI::App& app, const std::string& word) {
    std::string commands;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
    return app.get_name() + ": unknown command '" + word + "' (expected " + commands + "; " + app.get_name() +
           " --help shows the usage)";
}

CLI::Validator check(std::function<std::string(const std::string&)> check, const std::string& description) {
    return CLI::Validator([check](std::string& value) { return check(value); }, description);
}

CLI::Validator positive_number() {
    return check([](const std::string& value) {
        char* end = nullptr;
        const double number = std::strtod(value.c_str(), &end);
        return !value.empty() && !*end && number > 0 ? "" : value + ": expected a positive number";
    });
}

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty()) items.push_back(item);
    return items;
}

}  // namespace flowattr::cli
