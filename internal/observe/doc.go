// Package observe answers "does the program actually run on this kernel?":
// for each hook family it loads a small program (built here with asm, like
// the probes), attaches it the way a user would, triggers the event from
// inside the guest and reads what arrived. It runs in the guest, after the
// probes, as root.
//
// Every hook family gives three result.Features of kind result.KindObserve:
//
//   - NAME.attached: the program loaded and the attach call succeeded.
//   - NAME.fired: the program's counter (an array map slot of its own) went
//     above 0 after the trigger; Value holds the count.
//   - NAME.delivered: at least one of its events came out of the ring
//     buffer (kernels with BPF_MAP_TYPE_RINGBUF, 5.8+) or the perf buffer
//     (older kernels); Value names the buffer.
//
// A step that did not happen is Unsupported with a Reason, never
// inconclusive: the earliest of version (the family's mainline release),
// architecture (features.ArchMin), config option (read from the kernel's
// own config), or the family's own explanation (no tracefs event, bpf not
// among the active LSMs); a failure none of them explains is
// ReasonUnexplained with the error in Detail. Errno carries the kernel's
// answer (ENOTSUPP, EOPNOTSUPP, EINVAL). A later step inherits the reason
// of the first one that failed ("not attached: ...").
//
// Bursts measures delivery under load: an XDP program run with
// BPF_PROG_TEST_RUN writes Burst events (default 100,000) into a ring
// buffer and into a perf buffer while a reader drains them; ringbuf.burst
// and perf_buffer.burst carry sent, received and lost counts in Value
// ("lost" is what the program's output helper refused, counted in a map).
//
// RunObject is the guest half of `check --run`: it loads each program of a
// user's object on its own (pins stripped), attaches it by its section name,
// runs generic triggers, and returns its run count (BPF stats, 5.8+) and its
// maps' contents as an ObjectRun.
//
// Run needs root, the mounts internal/guest makes (tracefs, cgroup2,
// bpffs) and RLIMIT_MEMLOCK raised on kernels before 5.11. It changes the
// guest: it sets lo up, creates a child cgroup and moves its own process
// there for the cgroup families and back. It is not meant for a host.
package observe
