#include <unistd.h>

#include <iostream>

#include "guest/init.h"

// The matrix VM's /init: the kernel runs it as PID 1 and it is the guest. Anywhere else it
// would mount, reboot and power off a host, so it refuses.
int main() {
    if (::getpid() == 1) flowattr::guest::run_guest_init();
    std::cerr << "kmatrix_init is the /init of kmatrix's VMs and runs only as PID 1; use kmatrix\n";
    return 2;
}
