#pragma once
// `kmatrix`: run the kernel matrix, reproduce one cell, fetch or list kernels.
//
//   kmatrix run   [--kernels FILE] [--only NAME,...] [-j N] [--offline] [--out DIR] [--artifacts DIR]
//   kmatrix repro NAME [--shell] [--keep] [--cmdline ARGS] [--test NAME]
//   kmatrix fetch [NAME...] [--offline]          (see fetch_cli.h)
//   kmatrix list                                  (see fetch_cli.h)
//
// Exit status of run: 0 when every available kernel passed (unavailable and unsupported
// kernels are shown but do not fail the run), else the exit code of the most severe
// outcome (outcome.h), 130 when interrupted, 64 for usage errors. repro exits with its
// cell's outcome code.
namespace flowattr::matrix {

int run_kmatrix_cli(int argc, char** argv);

}  // namespace flowattr::matrix
