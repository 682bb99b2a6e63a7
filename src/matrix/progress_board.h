#pragma once
// The live view of a matrix run: one line per kernel, its state and elapsed time.
#include <chrono>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "matrix/matrix_run.h"

namespace flowattr::matrix {

// One line per kernel: state and elapsed time. On a terminal the block is redrawn in
// place; otherwise each change is printed once as a plain line (CI logs stay readable).
class ProgressBoard {
public:
    // COLUMNS > 0 cuts lines to the terminal width: a wrapped line would break the
    // cursor arithmetic of the in-place redraw.
    ProgressBoard(std::ostream& out, bool tty, const std::vector<std::string>& names, std::size_t columns = 0);
    void set(const std::string& name, const std::string& state);
    void finish(const CellResult& result);
    // A line printed above the board (kept in scrollback on a terminal).
    void note(const std::string& line);
    // Redraws elapsed times on a terminal; a no-op otherwise.
    void refresh();

private:
    struct Row {
        std::string state = "queued";
        std::chrono::steady_clock::time_point started;
        bool running = false, finished = false;
        double elapsed = 0;
    };
    std::string line_for(const std::string& name, const Row& row) const;
    void redraw_locked();

    std::ostream& out_;
    bool tty_;
    std::vector<std::string> order_;
    std::map<std::string, Row> rows_;
    std::size_t width_ = 0;
    std::size_t columns_;
    bool drawn_ = false;
    std::mutex mu_;
};

}  // namespace flowattr::matrix
