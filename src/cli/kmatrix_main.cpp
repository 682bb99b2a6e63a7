#include "matrix/kmatrix_cli.h"

int main(int argc, char** argv) { return flowattr::matrix::run_kmatrix_cli(argc, argv); }
