#include "matrix/progress_board.h"

#include <algorithm>
#include <cstdio>

#include "matrix/outcome.h"
#include "matrix/report.h"

namespace flowattr::matrix {

ProgressBoard::ProgressBoard(std::ostream& out, bool tty, const std::vector<std::string>& names, std::size_t columns)
    : out_(out), tty_(tty), order_(names), columns_(columns) {
    for (const auto& n : names) {
        rows_[n];
        width_ = std::max(width_, n.size());
    }
}

std::string ProgressBoard::line_for(const std::string& name, const Row& row) const {
    double elapsed = row.finished ? row.elapsed
                     : row.running ? std::chrono::duration<double>(std::chrono::steady_clock::now() - row.started).count()
                                   : 0;
    std::string pad(width_ > name.size() ? width_ - name.size() : 0, ' ');
    char t[16];
    std::snprintf(t, sizeof t, "%6.1fs", elapsed);
    std::string line = "  " + name + pad + "  " + (row.running || row.finished ? t : "       ") + "  " + row.state;
    if (columns_ > 1 && line.size() >= columns_) line = line.substr(0, columns_ - 1);
    return line;
}

void ProgressBoard::redraw_locked() {
    if (drawn_) out_ << "\033[" << order_.size() << "A";
    for (const auto& n : order_) out_ << "\r\033[K" << line_for(n, rows_[n]) << "\n";
    out_.flush();
    drawn_ = true;
}

void ProgressBoard::set(const std::string& name, const std::string& state) {
    std::lock_guard<std::mutex> lock(mu_);
    Row& row = rows_[name];
    if (row.finished || row.state == state) return;
    if (!row.running) {
        row.running = true;
        row.started = std::chrono::steady_clock::now();
    }
    row.state = state;
    if (tty_)
        redraw_locked();
    else
        out_ << line_for(name, row) << "\n" << std::flush;
}

void ProgressBoard::finish(const CellResult& r) {
    std::lock_guard<std::mutex> lock(mu_);
    Row& row = rows_[r.name];
    row.elapsed = row.running ? std::chrono::duration<double>(std::chrono::steady_clock::now() - row.started).count() : 0;
    row.running = false;
    row.finished = true;
    row.state = std::string(outcome_name(r.cls.outcome)) + (r.cls.reason.empty() ? "" : ": " + one_line(r.cls.reason, 90));
    if (tty_)
        redraw_locked();
    else
        out_ << line_for(r.name, row) << "\n" << std::flush;
}

void ProgressBoard::note(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    bool redraw = tty_ && drawn_;
    // Erase the board, print the note where it was, draw the board again below it.
    if (redraw) out_ << "\033[" << order_.size() << "A\r\033[J";
    drawn_ = false;
    out_ << line << "\n";
    if (redraw)
        redraw_locked();
    else
        out_.flush();
}

void ProgressBoard::refresh() {
    std::lock_guard<std::mutex> lock(mu_);
    if (tty_) redraw_locked();
}

}  // namespace flowattr::matrix
