// fmod_ret: a tracing program that may override the return value of the
// traced function. security_* functions are allowed targets without
// CONFIG_FUNCTION_ERROR_INJECTION.
#include "corpus.h"

SEC("fmod_ret/security_file_open")
int fmod_ret(__u64 *ctx)
{
	return 0;
}
