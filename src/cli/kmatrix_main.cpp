#include <unistd.h>

#include "guest/init.h"
#include "matrix/kmatrix_cli.h"

// The same static binary is the host's kmatrix and, in every matrix initramfs, the guest's
// /init: run by the kernel as PID 1, it is the guest.
int main(int argc, char** argv) {
    if (::getpid() == 1) flowattr::guest::run_guest_init();
    return flowattr::matrix::run_kmatrix_cli(argc, argv);
}
