// struct_ops_plain.c: struct_ops.c with its struct_ops map in the plain
// .struct_ops section (registered without a link, before 6.4), the layout
// cilium/ebpf v0.22 refuses ("got '.struct_ops' section: not supported"):
// check loads it with libbpf.
#define STRUCT_OPS_SEC ".struct_ops"
#include "struct_ops.c"
