#pragma once
// `kmatrix`: run the kernel matrix (run), reproduce one cell (repro), check any BPF object on
// every kernel (check), hold the loader-failure fixtures against their grid (lab), run one
// command in every VM (exec), fetch or list kernels (fetch_cli.h). Every command's options
// and `--help` are declared once with CLI11 in kmatrix_cli.cpp.
//
// Exit status of run: 0 when every available kernel passed (unavailable and unsupported
// kernels are shown but do not fail the run), else the exit code of the most severe
// outcome (outcome.h), 130 when interrupted, 2 for usage errors. repro exits with its
// cell's outcome code.
namespace flowattr::matrix {

int run_kmatrix_cli(int argc, char** argv);

}  // namespace flowattr::matrix
