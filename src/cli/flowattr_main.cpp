#include "agent/embedded_objects.h"
#include <cstdio>
int main() { for (auto& o : flowattr::agent::embedded_objects()) std::printf("%s %zu\n", o.name.c_str(), o.size); }
